//! When a question is about: the dates it names ("on 3 June, 2023", "em março de 2024", "in
//! May 2023", "last month"), as a window of time, so that what was said then can be preferred.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use regex::Regex;

/// Month names in English, Portuguese and Spanish (and English abbreviations), 1-based.
const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("jan", 1),
    ("janeiro", 1),
    ("enero", 1),
    ("february", 2),
    ("feb", 2),
    ("fevereiro", 2),
    ("febrero", 2),
    ("march", 3),
    ("mar", 3),
    ("março", 3),
    ("marco", 3),
    ("marzo", 3),
    ("april", 4),
    ("apr", 4),
    ("abril", 4),
    ("may", 5),
    ("maio", 5),
    ("mayo", 5),
    ("june", 6),
    ("jun", 6),
    ("junho", 6),
    ("junio", 6),
    ("july", 7),
    ("jul", 7),
    ("julho", 7),
    ("julio", 7),
    ("august", 8),
    ("aug", 8),
    ("agosto", 8),
    ("september", 9),
    ("sep", 9),
    ("sept", 9),
    ("setembro", 9),
    ("septiembre", 9),
    ("setiembre", 9),
    ("october", 10),
    ("oct", 10),
    ("outubro", 10),
    ("octubre", 10),
    ("november", 11),
    ("nov", 11),
    ("novembro", 11),
    ("noviembre", 11),
    ("december", 12),
    ("dec", 12),
    ("dezembro", 12),
    ("diciembre", 12),
];

fn month(name: &str) -> Option<u32> {
    let name = name.to_lowercase();
    MONTHS.iter().find(|(m, _)| *m == name).map(|(_, n)| *n)
}

static MONTH: &str = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|janeiro|fevereiro|março|marco|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro|enero|febrero|marzo|mayo|junio|julio|septiembre|setiembre|octubre|noviembre|diciembre)";

static DAY_MONTH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th|º)?(?:\s+de|\s+of)?\s+{MONTH}\b\.?,?(?:\s+(?:de\s+|del\s+)?(\d{{4}}))?"
    ))
    .expect("valid regex")
});
static MONTH_DAY_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b{MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?(?:\s+(\d{{4}}))?"
    ))
    .expect("valid regex")
});
static MONTH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b{MONTH}\.?,?\s+(?:de\s+|del\s+|of\s+)?(\d{{4}})\b"
    ))
    .expect("valid regex")
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:in|em|en|during|durante|no ano de)\s+((?:19|20)\d{2})\b")
        .expect("valid regex")
});
static MONTH_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:in|em|en|during|durante|no mês de|in the month of)\s+{MONTH}\b"
    ))
    .expect("valid regex")
});
static BEFORE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(before|antes d[eoa]s?)\s*$").expect("valid regex"));

/// A span of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    /// The question named no year ("em junho", "on 3 June"): `from` is in the latest such span
    /// that has begun, and an earlier year's may be the one meant (see `years_back`).
    pub(super) yearless: bool,
}

/// How many years before a yearless window's own the search looks for the contact's history.
pub(super) const YEARS_BACK: u32 = 10;

impl Window {
    /// The same span `years` years earlier.
    pub(super) fn years_back(self, years: u32) -> Option<Window> {
        let back = Months::new(12 * years);
        Some(Window {
            from: self.from.checked_sub_months(back)?,
            to: self.to.checked_sub_months(back)?,
            yearless: self.yearless,
        })
    }
}

fn day(y: i32, m: u32, d: u32) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(y, m, d)
        .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

fn month_window(y: i32, m: u32) -> Option<Window> {
    let from = day(y, m, 1)?;
    let to = if m == 12 {
        day(y + 1, 1, 1)?
    } else {
        day(y, m + 1, 1)?
    };
    Some(Window {
        from,
        to,
        yearless: false,
    })
}

/// The window a day names: the day itself and the one on each side (a message written late at
/// night, a time zone apart); a day the question says something happened *before* reaches two
/// weeks back.
fn day_window(y: i32, m: u32, d: u32, before: bool) -> Option<Window> {
    let at = day(y, m, d)?;
    let back = if before { 14 } else { 1 };
    Some(Window {
        from: at - Duration::days(back),
        to: at + Duration::days(2),
        yearless: false,
    })
}

/// The window of time a question names, if any. `now` anchors relative words ("last month",
/// "ano passado") and a date without a year (the most recent such date not after `now`; marked
/// `yearless`, as the search may find the contact's history ends in an earlier year's).
pub(super) fn anchor(query: &str, now: DateTime<Utc>) -> Option<Window> {
    let year_of = |m: u32, d: u32| -> i32 {
        let y = now.year();
        match day(y, m, d) {
            Some(at) if at > now => y - 1,
            _ => y,
        }
    };
    let before = |start: usize| BEFORE.is_match(&query[..start]);
    let yearless = |w: Option<Window>| {
        w.map(|w| Window {
            yearless: true,
            ..w
        })
    };
    if let Some(c) = DAY_MONTH_YEAR.captures(query) {
        let d: u32 = c[1].parse().ok()?;
        let m = month(&c[2])?;
        let window = match c.get(3) {
            Some(y) => day_window(y.as_str().parse().ok()?, m, d, before(c.get(0)?.start())),
            None => yearless(day_window(year_of(m, d), m, d, before(c.get(0)?.start()))),
        };
        return window;
    }
    if let Some(c) = MONTH_DAY_YEAR.captures(query) {
        let m = month(&c[1])?;
        let d: u32 = c[2].parse().ok()?;
        let window = match c.get(3) {
            Some(y) => day_window(y.as_str().parse().ok()?, m, d, before(c.get(0)?.start())),
            None => yearless(day_window(year_of(m, d), m, d, before(c.get(0)?.start()))),
        };
        return window;
    }
    if let Some(c) = MONTH_YEAR.captures(query) {
        return month_window(c[2].parse().ok()?, month(&c[1])?);
    }
    if let Some(c) = YEAR.captures(query) {
        let y: i32 = c[1].parse().ok()?;
        return Some(Window {
            from: day(y, 1, 1)?,
            to: day(y + 1, 1, 1)?,
            yearless: false,
        });
    }
    if let Some(c) = MONTH_ONLY.captures(query) {
        // "em junho": the latest June that has begun.
        let m = month(&c[1])?;
        let y = if m > now.month() {
            now.year() - 1
        } else {
            now.year()
        };
        return yearless(month_window(y, m));
    }
    relative(&query.to_lowercase(), now)
}

/// A question about when something happened or for how long.
pub(super) fn asks_when(question: &str) -> bool {
    ASKS_WHEN.is_match(question)
}

/// Whether a message says when something happened ("yesterday", "last Friday", "two weeks ago",
/// "for a month now", "on the 15th", "semana passada", "há 3 dias").
pub(super) fn says_when(content: &str) -> bool {
    SAYS_WHEN.is_match(content)
}

static ASKS_WHEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?xi) ^\W* (
            when | since\s+when | how\s+long | how\s+many\s+(days|weeks|months|years)
          | (what|which)\s+(date|day|year|month)
          | quando | desde\s+quando | (há|faz)\s+quanto\s+tempo | quanto\s+tempo
          | em\s+que\s+(data|dia|mês|ano) | qual\s+(a\s+)?(data|dia)
          | cuándo | cuando | hace\s+cuánto | desde\s+cuándo
        ) \b",
    )
    .expect("asks when")
});

/// Month names that date a message: `MONTHS` without the abbreviations ("mar", "jun": each a
/// prefix of the full name), which leaves out "may" (a verb, and a prefix of "mayo"), and without
/// "marco" (a common noun and name; "março" stays).
fn month_names() -> String {
    MONTHS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            *name != "marco"
                && !MONTHS
                    .iter()
                    .any(|(other, _)| other != name && other.starts_with(name))
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Time words in English, Portuguese and Spanish: relative days, "last/next week", "N days ago",
/// "for a month", weekdays after a preposition, month names (`month_names`).
static SAYS_WHEN: LazyLock<Regex> = LazyLock::new(|| {
    let months = month_names();
    Regex::new(&format!(
        r"(?xi) \b (
            yesterday | today | tonight | tomorrow
          | (last|next|this|past|coming)\s+(week|weekend|month|year|summer|winter|spring|fall|autumn|night
                |monday|tuesday|wednesday|thursday|friday|saturday|sunday)
          | (a|an|one|two|three|four|five|six|few|couple|\d+)\s+(of\s+)?(days?|weeks?|weekends?|months?|years?)\s+(ago|back|now)
          | for\s+(a|an|one|two|three|four|five|six|a\s+few|\d+)\s+(days?|weeks?|months?|years?)
          | since\s+(last|\d{{4}}|{months})
          | on\s+the\s+\d{{1,2}}(st|nd|rd|th) | on\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)
          | {months}
          | ontem | hoje | amanhã | anteontem
          | (semana|mês|ano|sábado|domingo|segunda|terça|quarta|quinta|sexta)(-feira)?\s+(passad[oa]|que\s+vem)
          | (próxim[oa]|últim[oa])\s+(semana|mês|ano|sábado|domingo|segunda|terça|quarta|quinta|sexta)
          | (há|faz)\s+(\d+|um|uma|dois|duas|três|alguns|algumas)\s+(dias?|semanas?|mes(es)?|anos?)
          | (no|na)\s+(sábado|domingo|segunda|terça|quarta|quinta|sexta)
          | ayer | mañana | anteayer
          | hace\s+(\d+|un|una|dos|tres|unos|unas)\s+(días?|semanas?|mes(es)?|años?)
          | (semana|mes|año)\s+pasad[oa]
        ) \b",
    ))
    .expect("says when")
});

/// "yesterday", "last week", "last month", "last year" and their Portuguese and Spanish forms.
fn relative(q: &str, now: DateTime<Utc>) -> Option<Window> {
    let today = day(now.year(), now.month(), now.day())?;
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    if has(&["yesterday", "ontem", "ayer"]) {
        return Some(Window {
            from: today - Duration::days(1),
            to: today + Duration::days(1),
            yearless: false,
        });
    }
    if has(&[
        "last week",
        "semana passada",
        "semana pasada",
        "última semana",
    ]) {
        return Some(Window {
            from: today - Duration::days(14),
            to: today + Duration::days(1),
            yearless: false,
        });
    }
    if has(&[
        "last month",
        "mês passado",
        "mes passado",
        "mes pasado",
        "último mês",
    ]) {
        let (y, m) = if now.month() == 1 {
            (now.year() - 1, 12)
        } else {
            (now.year(), now.month() - 1)
        };
        return month_window(y, m);
    }
    if has(&["last year", "ano passado", "año pasado"]) {
        return Some(Window {
            from: day(now.year() - 1, 1, 1)?,
            to: day(now.year(), 1, 1)?,
            yearless: false,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        day(y, m, d).unwrap()
    }

    #[test]
    fn dates_in_english_portuguese_and_spanish() {
        let now = at(2024, 5, 10);
        let w = anchor("What did John do on 3 June, 2023?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 6, 2), at(2023, 6, 5)));
        let w = anchor("Who did Maria have dinner with on May 3, 2023?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 5, 2), at(2023, 5, 5)));
        let w = anchor("O que ela comprou em março de 2024?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2024, 3, 1), at(2024, 4, 1)));
        let w = anchor("Qual pedido ela fez no dia 12 de abril?", now).unwrap();
        assert_eq!(w.from, at(2024, 4, 11), "no year: the latest 12 April");
        let w = anchor("¿Qué compró en diciembre de 2023?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 12, 1), at(2024, 1, 1)));
        let w = anchor("What workout class did Maria start in December 2023?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 12, 1), at(2024, 1, 1)));
        let w = anchor("What did she do the week before August 3, 2023?", now).unwrap();
        assert_eq!(w.from, at(2023, 7, 20), "before reaches two weeks back");
        let w = anchor("Para qual cidade Ana se mudou em junho?", now).unwrap();
        assert_eq!(
            (w.from, w.to),
            (at(2023, 6, 1), at(2023, 7, 1)),
            "the latest June"
        );
        let w = anchor("O que aconteceu em 2022?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2022, 1, 1), at(2023, 1, 1)));
    }

    #[test]
    fn a_date_without_a_year_can_move_to_an_earlier_one() {
        let now = at(2026, 12, 5);
        let june = anchor("When did Melanie go camping in June?", now).unwrap();
        assert!(june.yearless);
        assert_eq!((june.from, june.to), (at(2026, 6, 1), at(2026, 7, 1)));
        let back = june.years_back(3).unwrap();
        assert_eq!((back.from, back.to), (at(2023, 6, 1), at(2023, 7, 1)));
        assert!(
            anchor("O que ela pediu no dia 12 de abril?", now)
                .unwrap()
                .yearless
        );
        for dated in [
            "What did she buy in June 2023?",
            "O que aconteceu em 2022?",
            "o que ela pediu mês passado?",
            "on 3 June, 2023",
        ] {
            assert!(!anchor(dated, now).unwrap().yearless, "{dated}");
        }
    }

    #[test]
    fn relative_words_count_from_now() {
        let now = at(2024, 1, 15);
        let w = anchor("o que ela pediu mês passado?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 12, 1), at(2024, 1, 1)));
        let w = anchor("What did she buy last year?", now).unwrap();
        assert_eq!((w.from, w.to), (at(2023, 1, 1), at(2024, 1, 1)));
    }

    #[test]
    fn questions_about_when_and_messages_that_say_when() {
        for q in [
            "When did Melanie paint a sunrise?",
            "How long has John been playing professionally?",
            "Quando ela trocou o sofá?",
            "Há quanto tempo é cliente?",
            "¿Cuándo se mudó?",
        ] {
            assert!(asks_when(q), "{q}");
        }
        for q in [
            "What did Caroline research?",
            "Onde ela mora agora?",
            "Who said when?",
        ] {
            assert!(!asks_when(q), "{q}");
        }
        for says in [
            "I just signed up for a pottery class yesterday.",
            "We went camping two weekends ago.",
            "Been playing it for a month now",
            "I met back up with my teammates on the 15th",
            "Comprei a geladeira semana passada",
            "O sofá chegou há 3 dias, veio rasgado",
            "Me mudei em março",
            "Hace dos semanas que lo pedí",
            "Me mudé en octubre",
            "Llegó en mayo",
        ] {
            assert!(says_when(says), "{says}");
        }
        for says in [
            "I love painting, it's so relaxing!",
            "Quero trocar o sofá, veio rasgado",
            "We may go, who knows",
            "O Marco vai passar aqui",
            "I'll check the mar tide",
        ] {
            assert!(!says_when(says), "{says}");
        }
    }

    #[test]
    fn no_date_no_window() {
        let now = at(2024, 1, 15);
        for q in [
            "Where has Melanie camped?",
            "May I change my order?",
            "Quantos pedidos ela fez?",
            "Did she mar the table?",
        ] {
            assert_eq!(anchor(q, now), None, "{q}");
        }
    }
}

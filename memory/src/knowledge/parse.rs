//! From an uploaded source to passages: the text of Markdown, plain text, HTML and PDF cut at
//! headings and then at sentence boundaries (text-splitter), and one passage per product of a CSV
//! catalogue. A passage is what an agent quotes, so it is kept short enough to quote whole.

use std::ops::Range;

use serde_json::{Map, Value};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use ventros_domain::KnowledgeFormat;

/// Passage length in characters: long enough for a policy's paragraph, short enough to quote.
const PASSAGE_CHARS: Range<usize> = 200..700;
/// More than this many passages is not a document a small business's agents should quote from.
pub const MAX_PASSAGES: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The section's heading, or the product's name.
    pub heading: Option<String>,
    pub content: String,
    /// A catalogue row's columns, as uploaded.
    pub fields: Map<String, Value>,
}

/// Why a source cannot be read: said to the admin who uploaded it.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The document's passages and its language (`pt`, `en`, `es`; Portuguese when unclear).
pub fn passages(
    format: KnowledgeFormat,
    source: &[u8],
) -> Result<(Vec<Passage>, &'static str), Unreadable> {
    let (passages, language) = match format {
        KnowledgeFormat::Csv => catalogue(utf8(source)?)?,
        KnowledgeFormat::Markdown => prose(utf8(source)?, true),
        KnowledgeFormat::Text => prose(utf8(source)?, false),
        KnowledgeFormat::Html => {
            // Headings stay `#` lines (sections); emphasis goes, a link keeps its words only.
            let text = html2text::config::plain_no_decorate()
                .string_from_read(source, usize::MAX)
                .map_err(|e| Unreadable(format!("the HTML cannot be read: {e}")))?;
            static LINK: std::sync::LazyLock<regex::Regex> =
                std::sync::LazyLock::new(|| regex::Regex::new(r"\[([^\]\n]*)\]").expect("valid"));
            prose(&LINK.replace_all(&text, "$1"), true)
        }
        KnowledgeFormat::Pdf => {
            let text = pdf_extract::extract_text_from_mem(source)
                .map_err(|e| Unreadable(format!("the PDF cannot be read: {e}")))?;
            prose(&text, false)
        }
    };
    if passages.is_empty() {
        return Err(Unreadable("the document has no text".into()));
    }
    if passages.len() > MAX_PASSAGES {
        return Err(Unreadable(format!(
            "the document makes {} passages, more than the {MAX_PASSAGES} allowed: split it",
            passages.len()
        )));
    }
    Ok((passages, language))
}

fn utf8(source: &[u8]) -> Result<&str, Unreadable> {
    let text = std::str::from_utf8(source).map_err(|_| {
        Unreadable("the text is not UTF-8: save it as UTF-8 and upload again".into())
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

fn language_of(text: &str) -> &'static str {
    let sample: String = text.chars().take(4_000).collect();
    ventros_domain::language::language_of(&sample).unwrap_or("pt")
}

/// Sections at Markdown headings (`#` … `######`), each cut into passages under its heading.
fn prose(text: &str, markdown: bool) -> (Vec<Passage>, &'static str) {
    let mut sections: Vec<(Option<String>, String)> = vec![(None, String::new())];
    for line in text.lines() {
        let heading = markdown
            .then(|| line.trim_start())
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .filter(|h| !h.is_empty());
        match heading {
            Some(h) => sections.push((Some(h.to_owned()), String::new())),
            None => {
                let body = &mut sections.last_mut().expect("one section at least").1;
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    let config = || ChunkConfig::new(PASSAGE_CHARS).with_trim(true);
    let mut out = Vec::new();
    for (heading, body) in &sections {
        let chunks: Vec<&str> = if markdown {
            MarkdownSplitter::new(config()).chunks(body).collect()
        } else {
            TextSplitter::new(config()).chunks(body).collect()
        };
        out.extend(
            chunks
                .into_iter()
                .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|c| c.chars().any(char::is_alphanumeric))
                .map(|content| Passage {
                    heading: heading.clone(),
                    content,
                    fields: Map::new(),
                }),
        );
    }
    (out, language_of(text))
}

/// Column names a catalogue may use, in each language, for what the agents read.
const NAME: &[&str] = &["name", "nome", "nombre", "produto", "product", "producto"];
const DESCRIPTION: &[&str] = &[
    "description",
    "descrição",
    "descricao",
    "descripción",
    "descripcion",
];
const PRICE: &[&str] = &["price", "preço", "preco", "precio", "valor"];
const AVAILABILITY: &[&str] = &[
    "availability",
    "disponibilidade",
    "disponibilidad",
    "estoque",
    "stock",
];

fn column(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.contains(&h.trim().to_lowercase().as_str()))
}

/// One passage per product: "name: description. Price: …. Availability: …." in the catalogue's
/// language, every column kept in `fields`.
fn catalogue(text: &str) -> Result<(Vec<Passage>, &'static str), Unreadable> {
    let delimiter = if text
        .lines()
        .next()
        .is_some_and(|l| l.matches(';').count() > l.matches(',').count())
    {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Unreadable(format!("the CSV header cannot be read: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let name = column(&headers, NAME).ok_or_else(|| {
        Unreadable("the catalogue needs a name column (name, nome or nombre)".into())
    })?;
    let (description, price, availability) = (
        column(&headers, DESCRIPTION),
        column(&headers, PRICE),
        column(&headers, AVAILABILITY),
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| Unreadable(format!("the CSV cannot be read: {e}")))?;
    let sample: String = rows
        .iter()
        .filter_map(|r| description.and_then(|d| r.get(d)))
        .collect::<Vec<_>>()
        .join(". ");
    let language = language_of(&sample);
    let (price_label, availability_label) = match language {
        "en" => ("Price", "Availability"),
        "es" => ("Precio", "Disponibilidad"),
        _ => ("Preço", "Disponibilidade"),
    };
    let mut out = Vec::new();
    for row in &rows {
        let cell = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(product) = cell(Some(name)) else {
            continue;
        };
        let mut content = product.to_owned();
        if let Some(d) = cell(description) {
            content.push_str(&format!(": {}", d.trim_end_matches('.')));
        }
        content.push('.');
        if let Some(p) = cell(price) {
            content.push_str(&format!(" {price_label}: {p}."));
        }
        if let Some(a) = cell(availability) {
            content.push_str(&format!(" {availability_label}: {a}."));
        }
        let fields = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((h.trim().to_owned(), Value::from(cell(Some(i))?))))
            .collect();
        out.push(Passage {
            heading: Some(product.to_owned()),
            content,
            fields,
        });
    }
    Ok((out, language))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_cut_at_headings_and_each_passage_keeps_its_heading() {
        let source = "# Horário de funcionamento\nAbrimos de segunda a sexta, das 9h às 18h, e aos sábados das 9h às 13h.\n\n# Entrega\nEntregamos em Curitiba e região metropolitana em até 2 dias úteis.\n";
        let (passages, language) = passages(KnowledgeFormat::Markdown, source.as_bytes()).unwrap();
        assert_eq!(language, "pt");
        assert_eq!(passages.len(), 2);
        assert_eq!(
            passages[0].heading.as_deref(),
            Some("Horário de funcionamento")
        );
        assert!(
            passages[0]
                .content
                .starts_with("Abrimos de segunda a sexta")
        );
        assert_eq!(passages[1].heading.as_deref(), Some("Entrega"));
    }

    #[test]
    fn long_sections_become_several_passages_cut_between_sentences() {
        let sentence =
            "A garantia cobre defeitos de fabricação por doze meses a partir da entrega. ";
        let source = format!("# Garantia\n{}", sentence.repeat(30));
        let (passages, _) = passages(KnowledgeFormat::Markdown, source.as_bytes()).unwrap();
        assert!(passages.len() > 2, "{}", passages.len());
        for p in &passages {
            assert!(
                p.content.chars().count() <= PASSAGE_CHARS.end,
                "{}",
                p.content
            );
            assert!(p.content.ends_with('.'), "cut mid-sentence: {}", p.content);
            assert_eq!(p.heading.as_deref(), Some("Garantia"));
        }
    }

    #[test]
    fn html_headings_and_text_are_read_without_tags() {
        let source = "<html><body><h1>Formas de pagamento</h1><p>Aceitamos <b>Pix</b>, <a href='https://x.test/cartao'>cartão</a> de crédito em até 6x sem juros e boleto.</p><script>alert(1)</script></body></html>";
        let (passages, _) = passages(KnowledgeFormat::Html, source.as_bytes()).unwrap();
        assert_eq!(passages.len(), 1, "{passages:?}");
        assert_eq!(passages[0].heading.as_deref(), Some("Formas de pagamento"));
        assert_eq!(
            passages[0].content,
            "Aceitamos Pix, cartão de crédito em até 6x sem juros e boleto."
        );
    }

    #[test]
    fn a_catalogue_row_is_one_passage_with_its_price_and_availability() {
        let source = "nome;descrição;preço;disponibilidade;sku\nCafé Especial 500g;Grãos torrados do sul de Minas, notas de chocolate;R$ 49,90;em estoque;CF-500\n;sem nome;R$ 1;;X\nMoedor Manual;Moedor de café com ajuste de moagem;R$ 189,00;sob encomenda;MD-1\n";
        let (passages, language) = passages(KnowledgeFormat::Csv, source.as_bytes()).unwrap();
        assert_eq!(language, "pt");
        assert_eq!(passages.len(), 2, "a row without a name is skipped");
        assert_eq!(passages[0].heading.as_deref(), Some("Café Especial 500g"));
        assert_eq!(
            passages[0].content,
            "Café Especial 500g: Grãos torrados do sul de Minas, notas de chocolate. Preço: R$ 49,90. Disponibilidade: em estoque."
        );
        assert_eq!(passages[0].fields["sku"], "CF-500");
        assert_eq!(passages[1].fields["preço"], "R$ 189,00");
    }

    /// A one-page PDF with a text layer, offsets and all, as a PDF writer makes it.
    fn pdf_with(lines: &[&str]) -> Vec<u8> {
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("BT /F1 12 Tf 72 {} Td ({l}) Tj ET\n", 720 - 20 * i))
            .collect();
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
            format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        ];
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend(format!("{} 0 obj\n{object}\nendobj\n", i + 1).bytes());
        }
        let xref = pdf.len();
        pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
        for offset in offsets {
            pdf.extend(format!("{offset:010} 00000 n \n").bytes());
        }
        pdf.extend(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .bytes(),
        );
        pdf
    }

    #[test]
    fn a_pdf_is_read_from_its_text_layer() {
        let pdf = pdf_with(&[
            "Politica de trocas",
            "Trocas e devolucoes em ate 7 dias corridos apos o recebimento.",
        ]);
        let (passages, _) = passages(KnowledgeFormat::Pdf, &pdf).unwrap();
        assert_eq!(passages.len(), 1, "{passages:?}");
        assert!(
            passages[0]
                .content
                .contains("Trocas e devolucoes em ate 7 dias corridos"),
            "{}",
            passages[0].content
        );
    }

    #[test]
    fn unreadable_sources_say_why() {
        let no_name =
            passages(KnowledgeFormat::Csv, b"description,price\nA thing,10\n").unwrap_err();
        assert!(no_name.0.contains("name column"), "{no_name}");
        let latin1 = passages(KnowledgeFormat::Text, b"pre\xe7o").unwrap_err();
        assert!(latin1.0.contains("UTF-8"), "{latin1}");
        let empty = passages(KnowledgeFormat::Markdown, b"# Title only\n\n").unwrap_err();
        assert!(empty.0.contains("no text"), "{empty}");
        let pdf = passages(KnowledgeFormat::Pdf, b"not a pdf").unwrap_err();
        assert!(pdf.0.contains("PDF"), "{pdf}");
    }
}

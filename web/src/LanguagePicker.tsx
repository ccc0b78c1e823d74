// The language picker: on the login page it changes this browser's language; signed in, it is
// also stored with the user (PATCH /users/{id}), so the choice follows them to any browser.
import { useTranslation } from "react-i18next";
import { api, type Session } from "./api";
import { isLocale, LOCALE_NAMES, LOCALES, switchLocale } from "./i18n";

export function LanguagePicker({ session }: { session: Session | null }) {
  const { t, i18n } = useTranslation();
  const change = async (value: string) => {
    if (!isLocale(value)) return;
    await switchLocale(value);
    if (session) await api("PATCH", `/users/${session.userId}`, { locale: value }).catch(() => undefined);
  };
  return (
    <select className="language" aria-label={t("common.language")} value={i18n.language} onChange={(e) => void change(e.target.value)}>
      {LOCALES.map((l) => <option key={l} value={l} lang={l}>{LOCALE_NAMES[l]}</option>)}
    </select>
  );
}

// The web app's languages: Portuguese (Brazil) and English. Every string a person reads comes
// from the catalogues here (ESLint's i18next/no-literal-string and i18n.test.ts fail on one
// that does not). The language is the user's choice when they made one (stored with the user,
// so it follows them to any browser), else the browser's; dates, times and numbers follow it.
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { en } from "./en";
import { ptBR } from "./pt-BR";

export const LOCALES = ["pt-BR", "en"] as const;
export type Locale = (typeof LOCALES)[number];

/** Each language named in itself, as language pickers show them. */
export const LOCALE_NAMES: Record<Locale, string> = { "pt-BR": "Português (Brasil)", en: "English" };

const STORAGE_KEY = "ventros.locale";

/** The first of the browser's languages we speak (any Portuguese reads pt-BR), else English. */
export function browserLocale(languages: readonly string[]): Locale {
  for (const language of languages) {
    const lower = language.toLowerCase();
    if (lower.startsWith("pt")) return "pt-BR";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

function initial(): Locale {
  const stored = typeof localStorage === "undefined" ? null : localStorage.getItem(STORAGE_KEY);
  if (isLocale(stored)) return stored;
  return browserLocale(typeof navigator === "undefined" ? [] : navigator.languages);
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, "pt-BR": { translation: ptBR } },
  lng: initial(),
  fallbackLng: false,
  supportedLngs: [...LOCALES],
  // React escapes what it renders; escaping here would show &amp; to people.
  interpolation: { escapeValue: false },
  returnNull: false,
});

function apply(locale: Locale) {
  if (typeof document !== "undefined") document.documentElement.lang = locale;
}
apply(i18n.language as Locale);
i18n.on("languageChanged", (lng) => apply(lng as Locale));

/** Speaks `locale` from now on, on this browser (the caller stores it with the user). */
export async function switchLocale(locale: Locale): Promise<void> {
  localStorage.setItem(STORAGE_KEY, locale);
  await i18n.changeLanguage(locale);
}

/** The language in use now (for Intl formatting outside React). */
export function currentLocale(): Locale {
  return isLocale(i18n.language) ? i18n.language : "en";
}

export default i18n;

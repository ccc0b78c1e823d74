// Presentation rules with logic in them (unit-tested in format.test.ts). Words come from the
// catalogues and dates and numbers are written the way the current language writes them.
import i18n, { currentLocale } from "./i18n";

/** Delivery ticks as WhatsApp shows them: one grey, two grey, two blue; failures stand out. */
export function ticks(status: string): { symbol: string; label: string; tone: "muted" | "read" | "failed" | "pending" } {
  switch (status) {
    case "pending":
      return { symbol: "🕓", label: i18n.t("format.sending"), tone: "pending" };
    case "sent":
      return { symbol: "✓", label: i18n.t("format.sent"), tone: "muted" };
    case "delivered":
      return { symbol: "✓✓", label: i18n.t("format.delivered"), tone: "muted" };
    case "read":
    case "played":
      return { symbol: "✓✓", label: i18n.t("format.read"), tone: "read" };
    case "failed":
    case "undelivered":
      return { symbol: "!", label: i18n.t(`format.${status}`), tone: "failed" };
    default:
      return { symbol: "", label: status, tone: "muted" };
  }
}

/** Which live events should refresh a view that shows this conversation (or any, when null). */
export function touches(event: { type: string; data: Record<string, unknown> }, conversationId: string | null): boolean {
  const relevant = event.type.startsWith("message.") || event.type.startsWith("session.");
  if (!relevant) return false;
  if (conversationId === null) return true;
  return event.data["session_id"] === conversationId || event.data["conversation_id"] === conversationId || event.type.startsWith("message.status");
}

export function channelLabel(kind: string): string {
  return { waha: "WhatsApp", messenger: "Messenger", instagram: "Instagram" }[kind] ?? kind;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString(currentLocale(), { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString(currentLocale(), { day: "2-digit", month: "short" });
}

const ORIGINS = ["agent", "operator", "greeting", "away", "campaign", "unknown"] as const;

/** Who sent an outbound message (`origin`), in words. */
export function originLabel(origin: string): string {
  return (ORIGINS as readonly string[]).includes(origin) ? i18n.t(`origins.${origin as (typeof ORIGINS)[number]}`) : origin;
}

/** A weekday's short name (1 = Monday … 7 = Sunday, ISO, as the API counts them). */
export function weekday(day: number): string {
  // 2024-01-01 was a Monday.
  return new Date(Date.UTC(2024, 0, day)).toLocaleDateString(currentLocale(), { weekday: "short", timeZone: "UTC" });
}

/** A date and time in full, as the current language writes it. */
export function dateTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString(currentLocale(), { dateStyle: "medium", timeStyle: "short" }) : "";
}

/** A day, as the current language writes it. */
export function day(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleDateString(currentLocale()) : "";
}

/** A count or amount with the current language's separators (1.234 in Portuguese). */
export function number(value: number, digits = 0): string {
  return new Intl.NumberFormat(currentLocale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

/** How many minor units a currency's major unit has (100 for BRL, 1 for JPY). */
export function minorUnits(currency: string): number {
  return 10 ** (new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2);
}

/** An amount in a currency's minor unit, written the current language's way (R$ 1.500,00). */
export function money(minor: number, currency: string): string {
  return new Intl.NumberFormat(currentLocale(), { style: "currency", currency }).format(minor / minorUnits(currency));
}

/** What a typed amount ("1500,5", "1.500,50" or "1500.50") is in minor units; null if it is not one. */
export function parseMoney(typed: string, currency: string): number | null {
  const text = typed.trim().replace(/\s/g, "");
  if (!/^\d[\d.,]*$/.test(text)) return null;
  // The last separator followed by one or two digits is the decimal one; the others group thousands.
  const decimal = /[.,](\d{1,2})$/.exec(text);
  const whole = (decimal ? text.slice(0, decimal.index) : text).replace(/[.,]/g, "");
  const cents = decimal ? decimal[1].padEnd(2, "0") : "00";
  const minor = Math.round((Number(`${whole}.${cents}`) * minorUnits(currency)));
  return Number.isSafeInteger(minor) ? minor : null;
}

/** A share (0–1) as a percentage: 87% / 87 %. */
export function percent(share: number): string {
  return new Intl.NumberFormat(currentLocale(), { style: "percent", maximumFractionDigits: 0 }).format(share);
}

/** `n` points evenly on a circle (the first at the top), for the knowledge graph. */
export function circleLayout(n: number, center: number, radius: number): { x: number; y: number }[] {
  if (n === 1) return [{ x: center, y: center }];
  return Array.from({ length: n }, (_, i) => {
    const angle = (2 * Math.PI * i) / n - Math.PI / 2;
    return { x: Math.round(center + radius * Math.cos(angle)), y: Math.round(center + radius * Math.sin(angle)) };
  });
}

/** The channel an identity kind belongs to. */
export function identityLabel(kind: string): string {
  return { wa_user: "WhatsApp", wa_lid: i18n.t("format.waHidden"), psid: "Messenger", igsid: "Instagram" }[kind] ?? kind;
}

/** A file size as people read it: 812 B, 14 KB, 3.2 MB. */
export function fileSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${number(Math.round(bytes / 1024))} KB`;
  return `${number(bytes / (1024 * 1024), 1)} MB`;
}

/** A link that opens a shared location on a map (OpenStreetMap: no account, no key). */
export function mapLink(latitude: number, longitude: number): string {
  const lat = latitude.toFixed(6);
  const lon = longitude.toFixed(6);
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`;
}

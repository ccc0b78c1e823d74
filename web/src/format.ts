// Presentation rules with logic in them (unit-tested in format.test.ts).

/** Delivery ticks as WhatsApp shows them: one grey, two grey, two blue; failures stand out. */
export function ticks(status: string): { symbol: string; label: string; tone: "muted" | "read" | "failed" | "pending" } {
  switch (status) {
    case "pending":
      return { symbol: "🕓", label: "sending", tone: "pending" };
    case "sent":
      return { symbol: "✓", label: "sent", tone: "muted" };
    case "delivered":
      return { symbol: "✓✓", label: "delivered", tone: "muted" };
    case "read":
    case "played":
      return { symbol: "✓✓", label: "read", tone: "read" };
    case "failed":
    case "undelivered":
      return { symbol: "!", label: status, tone: "failed" };
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
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { day: "2-digit", month: "short" });
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
  return { wa_user: "WhatsApp", wa_lid: "WhatsApp (hidden number)", psid: "Messenger", igsid: "Instagram" }[kind] ?? kind;
}

/** A file size as people read it: 812 B, 14 KB, 3.2 MB. */
export function fileSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A link that opens a shared location on a map (OpenStreetMap: no account, no key). */
export function mapLink(latitude: number, longitude: number): string {
  const lat = latitude.toFixed(6);
  const lon = longitude.toFixed(6);
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`;
}

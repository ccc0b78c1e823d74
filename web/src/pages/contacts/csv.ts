// Contacts to and from CSV. Import reads a header row: `name` (or `display_name`), `tags`
// (separated by `;` or `|`), and every other column becomes a custom attribute; export writes the
// same shape (plus `id`, ignored on import), so an exported file imports again.
import Papa from "papaparse";

export interface ImportRow { line: number; body: { display_name: string | null; tags: string[]; custom_attributes: Record<string, string> } }

export function parseContacts(text: string): ImportRow[] {
  const parsed = Papa.parse<Record<string, string>>(text.trim(), { header: true, skipEmptyLines: true, transformHeader: (h) => h.trim().toLowerCase() });
  return parsed.data.map((row, i) => {
    const attributes: Record<string, string> = {};
    let name: string | null = null;
    let tags: string[] = [];
    for (const [key, raw] of Object.entries(row)) {
      const value = (raw ?? "").trim();
      if (key === "name" || key === "display_name") name = value || null;
      else if (key === "tags") tags = value.split(/[;|]/).map((t) => t.trim()).filter(Boolean);
      else if (key === "id") continue; // an exported file's own ids: new contacts get new ones
      else if (key && value) attributes[key] = value;
    }
    // Line numbers as a spreadsheet shows them: the header is line 1.
    return { line: i + 2, body: { display_name: name, tags, custom_attributes: attributes } };
  });
}

export interface ExportContact { id: string; display_name: string | null; tags: string[]; custom_attributes?: Record<string, unknown> }

/** An attribute as a cell: text as it is, anything else (numbers, lists) as JSON. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function contactsCsv(contacts: ExportContact[]): string {
  const keys = [...new Set(contacts.flatMap((c) => Object.keys(c.custom_attributes ?? {})))].sort();
  const rows = contacts.map((c) => ({
    id: c.id,
    name: c.display_name ?? "",
    tags: c.tags.join(";"),
    ...Object.fromEntries(keys.map((k) => [k, cell(c.custom_attributes?.[k])])),
  }));
  return Papa.unparse({ fields: ["id", "name", "tags", ...keys], data: rows.map((r) => Object.values(r)) });
}

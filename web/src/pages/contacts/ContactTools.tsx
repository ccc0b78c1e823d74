// Above the contact list (agents and admins): a new contact, import from CSV with a report of the
// rows refused and why (each row is created through the API, so its rules apply), and export of
// every contact to CSV.
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { get, type Page, post, problemText } from "../../api";
import { contactsCsv, type ExportContact, parseContacts } from "./csv";

interface Report { imported: number; rejected: { line: number; reason: string }[] }

export function ContactTools({ onChanged }: { onChanged: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [tags, setTags] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [report, setReport] = useState<Report | null>(null);
  const [busy, setBusy] = useState(false);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const contact = await post<{ id: string }>("/contacts", { display_name: name, tags: tags.split(",").map((x) => x.trim()).filter(Boolean) });
      void navigate(`/contacts/${contact.id}`);
    } catch (err) {
      setError(problemText(err));
    }
  };
  const importFile = async (file: File | undefined) => {
    if (!file) return;
    setBusy(true);
    setReport(null);
    const result: Report = { imported: 0, rejected: [] };
    for (const row of parseContacts(await file.text())) {
      try {
        await post("/contacts", row.body);
        result.imported += 1;
      } catch (err) {
        result.rejected.push({ line: row.line, reason: problemText(err) });
      }
    }
    setReport(result);
    setBusy(false);
    onChanged();
  };
  const exportAll = async () => {
    const all: ExportContact[] = [];
    let cursor: string | null | undefined = null;
    do {
      const page: Page<ExportContact> = await get<Page<ExportContact>>(`/contacts?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      all.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([contactsCsv(all)], { type: "text/csv;charset=utf-8" }));
    link.download = "contacts.csv";
    link.click();
    URL.revokeObjectURL(link.href);
  };
  return (
    <div className="contact-tools">
      <form className="inline" onSubmit={(e) => void create(e)} aria-label={t("contactTools.new")}>
        <label className="inline-label">{t("common.name")}<input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} /></label>
        <label className="inline-label">{t("contactTools.tags")}<input value={tags} onChange={(e) => setTags(e.target.value)} /></label>
        <button type="submit">{t("contactTools.create")}</button>
      </form>
      <div className="inline">
        <label className="inline-label">{t("contactTools.import")}
          <input type="file" accept=".csv,text/csv" disabled={busy} onChange={(e) => { void importFile(e.target.files?.[0]); e.target.value = ""; }} />
        </label>
        <button type="button" onClick={() => void exportAll().catch((err: unknown) => setError(problemText(err)))}>{t("contactTools.export")}</button>
      </div>
      <p className="muted">{t("contactTools.importHint")}</p>
      {error && <p role="alert" className="error">{error}</p>}
      {report && (
        <div role="status" className="panel" data-testid="import-report">
          <p>{t("contactTools.report", { imported: report.imported, rejected: report.rejected.length })}</p>
          {report.rejected.length > 0 && (
            <ul>{report.rejected.map((r) => <li key={r.line}>{t("contactTools.rejectedLine", { line: r.line, reason: r.reason })}</li>)}</ul>
          )}
        </div>
      )}
    </div>
  );
}

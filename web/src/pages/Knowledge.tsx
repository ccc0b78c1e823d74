// The knowledge base: the documents and product catalogue the AI agents answer customers from.
// Admins upload (a file: Markdown, text, HTML, PDF, or a CSV catalogue), replace and delete;
// everyone sees the indexing status and can try a question to see what an agent would quote.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, type Page, post, problemText, type Session } from "../api";
import { number, when } from "../format";
import i18n from "../i18n";
import type { KnowledgeDocument, KnowledgeFormat, KnowledgePassage } from "../types";

const FORMATS: Record<string, KnowledgeFormat> = {
  md: "markdown",
  markdown: "markdown",
  txt: "text",
  html: "html",
  htm: "html",
  pdf: "pdf",
  csv: "csv",
};

/** The upload body for a picked file: text formats as text, a PDF as base64. */
async function uploadBody(file: File, title: string) {
  const format = FORMATS[file.name.split(".").pop()?.toLowerCase() ?? ""];
  if (!format) throw new Error(i18n.t("knowledge.chooseFile"));
  if (format !== "pdf") return { title, format, content: await file.text() };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { title, format, content_base64: btoa(binary) };
}

export function Knowledge({ session }: { session: Session }) {
  const { t } = useTranslation();
  const [failed, setError] = useState<string | null>(null);
  const admin = session.role === "admin";
  const queries = useQueryClient();
  const list = useQuery({
    queryKey: ["knowledge-documents"],
    queryFn: () => get<Page<KnowledgeDocument>>("/knowledge/documents"),
    // Indexing takes a moment: follow it while a document is pending.
    refetchInterval: (q) => (q.state.data?.items.some((d) => d.status === "pending") ? 1000 : false),
  });
  const docs = list.data?.items ?? null;
  const error = failed ?? (list.error ? problemText(list.error) : null);
  const load = useCallback(async () => {
    setError(null);
    await queries.invalidateQueries({ queryKey: ["knowledge-documents"] });
  }, [queries]);

  const remove = async (doc: KnowledgeDocument) => {
    if (!window.confirm(t("knowledge.confirmDelete", { title: doc.title }))) return;
    try {
      await api("DELETE", `/knowledge/documents/${doc.id}`);
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };

  return (
    <section className="page" aria-label={t("knowledge.title")}>
      <header className="page-header">
        <h1>{t("knowledge.title")}</h1>
      </header>
      <p className="muted">{t("knowledge.intro")}</p>
      {error && <p role="alert" className="error">{error}</p>}
      {admin && <Upload onDone={load} onError={setError} />}
      {docs === null ? <p className="muted">{t("common.loading")}</p> : docs.length === 0 ? <p className="muted">{t("knowledge.none")}</p> : (
        <table className="table" data-testid="knowledge-documents">
          <thead><tr><th>{t("common.title")}</th><th>{t("knowledge.format")}</th><th>{t("common.status")}</th><th>{t("knowledge.passages")}</th><th>{t("knowledge.updated")}</th>{admin && <th><span className="sr-only">{t("common.actions")}</span></th>}</tr></thead>
          <tbody>
            {docs.map((d) => (
              <tr key={d.id} data-testid="knowledge-document">
                <td>{d.title}</td>
                <td>{d.format}</td>
                <td title={d.error ?? undefined} data-status={d.status}>{t(`knowledge.statuses.${d.status}`)}{d.error ? `: ${d.error}` : ""}</td>
                <td>{number(d.passage_count)}</td>
                <td>{when(d.updated_at)}</td>
                {admin && <td><button type="button" onClick={() => void remove(d)} aria-label={t("knowledge.deleteDoc", { title: d.title })}>{t("common.delete")}</button></td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <TryQuestion />
    </section>
  );
}

function Upload({ onDone, onError }: { onDone: () => Promise<void>; onError: (e: string | null) => void }) {
  const { t } = useTranslation();
  const [title, setTitle] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    try {
      await post("/knowledge/documents", await uploadBody(file, title.trim() || file.name));
      setTitle("");
      setFile(null);
      (e.target as HTMLFormElement).reset();
      onError(null);
      await onDone();
    } catch (err) {
      onError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="upload" onSubmit={(e) => void submit(e)} aria-label={t("knowledge.upload")}>
      <label>{t("common.title")} <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder={t("knowledge.titlePlaceholder")} /></label>
      <label>{t("knowledge.file")} <input type="file" accept=".md,.markdown,.txt,.html,.htm,.pdf,.csv" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required /></label>
      <button type="submit" disabled={busy || !file}>{busy ? t("knowledge.uploading") : t("knowledge.uploadButton")}</button>
    </form>
  );
}

function TryQuestion() {
  const { t } = useTranslation();
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<KnowledgePassage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!q.trim()) return;
    try {
      setHits((await get<Page<KnowledgePassage>>(`/knowledge/search?q=${encodeURIComponent(q)}&limit=3`)).items);
      setError(null);
    } catch (err) {
      setError(problemText(err));
    }
  };
  return (
    <section aria-label={t("knowledge.try")}>
      <h2>{t("knowledge.try")}</h2>
      <form role="search" onSubmit={(e) => void submit(e)}>
        <input aria-label={t("knowledge.question")} placeholder={t("knowledge.questionPlaceholder")} value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit">{t("common.search")}</button>
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      {hits && (hits.length === 0 ? <p className="muted">{t("knowledge.nothing")}</p> : (
        <ol className="passages">
          {hits.map((h) => (
            <li key={h.id} data-testid="knowledge-passage">
              <strong>{h.document_title}{h.heading ? ` · ${h.heading}` : ""}</strong>
              <blockquote>{h.content}</blockquote>
            </li>
          ))}
        </ol>
      ))}
    </section>
  );
}

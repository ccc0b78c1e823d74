// The knowledge base: the documents and product catalogue the AI agents answer customers from.
// Admins upload (a file: Markdown, text, HTML, PDF, or a CSV catalogue), replace and delete;
// everyone sees the indexing status and can try a question to see what an agent would quote.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { api, ApiError, get, post, type Page, type Session } from "../api";
import { when } from "../format";
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
  if (!format) throw new Error("Choose a .md, .txt, .html, .pdf or .csv file");
  if (format !== "pdf") return { title, format, content: await file.text() };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { title, format, content_base64: btoa(binary) };
}

export function Knowledge({ session }: { session: Session }) {
  const [docs, setDocs] = useState<KnowledgeDocument[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const admin = session.role === "admin";

  const load = useCallback(async () => {
    try {
      setDocs((await get<Page<KnowledgeDocument>>("/knowledge/documents")).items);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);
  useEffect(() => void load(), [load]);
  // Indexing takes a moment: poll while a document is pending.
  useEffect(() => {
    if (!docs?.some((d) => d.status === "pending")) return;
    const timer = setTimeout(() => void load(), 1000);
    return () => clearTimeout(timer);
  }, [docs, load]);

  const remove = async (doc: KnowledgeDocument) => {
    if (!window.confirm(`Delete "${doc.title}"? The agents stop quoting it at once.`)) return;
    try {
      await api("DELETE", `/knowledge/documents/${doc.id}`);
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail || e.title : String(e));
    }
  };

  return (
    <section className="page" aria-label="Knowledge base">
      <header className="page-header">
        <h1>Knowledge base</h1>
      </header>
      <p className="muted">What the AI agents answer customers from: opening hours, delivery, payment, policies, products and prices. A question it does not cover goes to a colleague.</p>
      {error && <p role="alert" className="error">{error}</p>}
      {admin && <Upload onDone={load} onError={setError} />}
      {docs === null ? <p className="muted">Loading…</p> : docs.length === 0 ? <p className="muted">No documents yet.</p> : (
        <table className="table" data-testid="knowledge-documents">
          <thead><tr><th>Title</th><th>Format</th><th>Status</th><th>Passages</th><th>Updated</th>{admin && <th><span className="sr-only">Actions</span></th>}</tr></thead>
          <tbody>
            {docs.map((d) => (
              <tr key={d.id} data-testid="knowledge-document">
                <td>{d.title}</td>
                <td>{d.format}</td>
                <td title={d.error ?? undefined}>{d.status}{d.error ? `: ${d.error}` : ""}</td>
                <td>{d.passage_count}</td>
                <td>{when(d.updated_at)}</td>
                {admin && <td><button type="button" onClick={() => void remove(d)} aria-label={`Delete ${d.title}`}>Delete</button></td>}
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
      onError(err instanceof ApiError ? err.detail || err.title : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="upload" onSubmit={(e) => void submit(e)} aria-label="Upload a document">
      <label>Title <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Store policies" /></label>
      <label>File <input type="file" accept=".md,.markdown,.txt,.html,.htm,.pdf,.csv" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required /></label>
      <button type="submit" disabled={busy || !file}>{busy ? "Uploading…" : "Upload"}</button>
    </form>
  );
}

function TryQuestion() {
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
      setError(err instanceof ApiError ? err.detail || err.title : String(err));
    }
  };
  return (
    <section aria-label="Try a question">
      <h2>Try a question</h2>
      <form role="search" onSubmit={(e) => void submit(e)}>
        <input aria-label="A customer's question" placeholder="Vocês abrem no sábado?" value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      {hits && (hits.length === 0 ? <p className="muted">Nothing in the knowledge base.</p> : (
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

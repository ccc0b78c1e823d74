// Contacts: search and list; a profile with identities, attributes, tags, deals and conversations,
// and what we remember of the person: memory search and the knowledge graph as a picture.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, Route, Routes, useParams } from "react-router-dom";
import { canWrite, get, type Page, problemText, type Session } from "../api";
import { ContactEditor } from "./contacts/ContactEditor";
import { MergeContact } from "./contacts/MergeContact";
import { ContactTools } from "./contacts/ContactTools";
import { identityLabel, percent, when } from "../format";
import { KnowledgeGraph, type Entity, type Fact } from "./KnowledgeGraph";
import type { Contact, ContactSummary } from "../types";

interface Memory { id: string; content: string; memory_type: string; relevance_score: number; created_at: string | null }

const MODES = ["hybrid", "vector", "keyword", "graph"] as const;

export function Contacts({ session }: { session: Session }) {
  const writable = canWrite(session.role);
  return (
    <Routes>
      <Route index element={<ContactList writable={writable} />} />
      <Route path=":id" element={<ContactProfile writable={writable} />} />
    </Routes>
  );
}

function ContactList({ writable }: { writable: boolean }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  // What was searched (the form's submit), not every keystroke.
  const [searched, setSearched] = useState("");
  const list = useQuery({
    queryKey: ["contacts", "list", searched],
    queryFn: () => get<Page<ContactSummary>>(`/contacts?limit=100${searched ? `&q=${encodeURIComponent(searched)}` : ""}`),
  });
  const items = list.data?.items ?? null;
  const error = list.error ? problemText(list.error) : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSearched(q);
  };
  return (
    <section className="page" aria-label={t("contacts.title")}>
      <header className="page-header">
        <h1>{t("contacts.title")}</h1>
        <form onSubmit={submit} role="search">
          <input aria-label={t("contacts.searchLabel")} placeholder={t("contacts.searchPlaceholder")} value={q} onChange={(e) => setQ(e.target.value)} />
          <button type="submit">{t("common.search")}</button>
        </form>
      </header>
      {writable && <ContactTools onChanged={() => void queries.invalidateQueries({ queryKey: ["contacts"] })} />}
      {error && <p role="alert" className="error">{error}</p>}
      {items === null ? <p className="muted">{t("common.loading")}</p> : items.length === 0 ? <p className="muted">{t("contacts.none")}</p> : (
        <table className="table">
          <thead><tr><th>{t("common.name")}</th><th>{t("contacts.tags")}</th><th>{t("contacts.lastActivity")}</th></tr></thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td><Link to={`/contacts/${c.id}`}>{c.display_name ?? t("common.unnamed")}</Link></td>
                <td>{c.tags.join(", ")}</td>
                <td>{when(c.last_activity_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ContactProfile({ writable }: { writable: boolean }) {
  const { t } = useTranslation();
  const { id } = useParams();
  const queries = useQueryClient();
  const profile = useQuery({ queryKey: ["contacts", id], queryFn: () => get<Contact>(`/contacts/${id}`) });
  const graphQuery = useQuery({ queryKey: ["contacts", id, "graph"], queryFn: () => get<{ entities: Entity[]; facts: Fact[] }>(`/contacts/${id}/graph?history=true`) });
  const contact = profile.data ?? null;
  const graph = graphQuery.data ?? null;
  const graphError = graphQuery.error;
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState("hybrid");
  const [memories, setMemories] = useState<Memory[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [merging, setMerging] = useState(false);
  const reload = () => void queries.invalidateQueries({ queryKey: ["contacts"] });
  const searchMemories = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setMemories((await get<Page<Memory>>(`/contacts/${id}/memories?q=${encodeURIComponent(query)}&mode=${mode}`)).items);
    } catch (err) {
      setError(problemText(err));
    }
  };

  if (profile.error && !contact) return <p role="alert" className="error page">{problemText(profile.error)}</p>;
  if (!contact) return <p className="muted page">{t("common.loading")}</p>;
  return (
    <section className="page profile" aria-label={t("contacts.label", { name: contact.display_name ?? "" })}>
      <header className="page-header">
        <h1>{contact.display_name ?? t("contacts.unnamedContact")}</h1>
        {contact.opted_out_at && <span className="badge">{t("contacts.optedOut")}</span>}
        {writable && !editing && <button type="button" onClick={() => setEditing(true)}>{t("contactTools.editButton")}</button>}
        {writable && !merging && <button type="button" onClick={() => setMerging(true)}>{t("merge.open")}</button>}
      </header>
      {merging && <MergeContact contactId={contact.id} onCancel={() => setMerging(false)} onMerged={() => { setMerging(false); reload(); }} />}
      {editing && <ContactEditor contact={contact} onCancel={() => setEditing(false)} onSaved={() => { setEditing(false); reload(); }} />}
      <div className="profile-grid">
        <div>
          <h2>{t("contacts.identities")}</h2>
          <ul>{contact.identities.map((i) => <li key={i.id}>{identityLabel(i.kind)}: <code>{i.external_id}</code></li>)}</ul>
          <h2>{t("contacts.tags")}</h2>
          <p>{contact.tags.length ? contact.tags.join(", ") : <span className="muted">{t("common.none")}</span>}</p>
          <h2>{t("contacts.attributes")}</h2>
          <dl>{Object.entries(contact.custom_attributes ?? {}).map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{String(v)}</dd></div>)}</dl>
          <h2>{t("contacts.deals")}</h2>
          <ul>{contact.deals.map((d) => <li key={d.id}><Link to="/pipelines">{d.title}</Link> ({t(`contacts.dealStatuses.${d.status}`)})</li>)}</ul>
          <h2>{t("contacts.conversations")}</h2>
          <ul>{contact.conversations.map((c) => <li key={c.id}><Link to={`/inbox/${c.id}`}>{when(c.opened_at)} · {t(`contacts.sessionStatuses.${c.status}`)}</Link></li>)}</ul>
        </div>
        <div>
          <h2>{t("contacts.memory")}</h2>
          <form onSubmit={(e) => void searchMemories(e)} role="search" className="inline">
            <input aria-label={t("contacts.searchMemories")} placeholder={t("contacts.memoryPlaceholder")} value={query} onChange={(e) => setQuery(e.target.value)} required />
            <select aria-label={t("contacts.searchMode")} value={mode} onChange={(e) => setMode(e.target.value)}>
              {MODES.map((m) => <option key={m} value={m}>{t(`contacts.modes.${m}`)}</option>)}
            </select>
            <button type="submit">{t("common.search")}</button>
          </form>
          {error && <p role="alert" className="error">{error}</p>}
          {memories && (memories.length === 0 ? <p className="muted">{t("contacts.nothing")}</p> : (
            <ol className="memories">{memories.map((m) => <li key={m.id}><span className="badge">{m.memory_type}</span> {m.content} <span className="muted">{percent(m.relevance_score)}</span></li>)}</ol>
          ))}
          <h2>{t("contacts.graph")}</h2>
          {graphError ? <p className="muted">{t("contacts.memoryDown")}</p> : graph ? <KnowledgeGraph entities={graph.entities} facts={graph.facts} /> : <p className="muted">{t("common.loading")}</p>}
        </div>
      </div>
    </section>
  );
}

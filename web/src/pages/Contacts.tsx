// Contacts: search and list; a profile with identities, attributes, tags, deals and conversations,
// and what we remember of the person: memory search and the knowledge graph as a picture.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { Link, Route, Routes, useParams } from "react-router-dom";
import { get, type Page } from "../api";
import { identityLabel, when } from "../format";
import { KnowledgeGraph, type Entity, type Fact } from "./KnowledgeGraph";

interface ContactSummary { id: string; display_name: string | null; tags: string[]; last_activity_at?: string | null }
interface Identity { id: string; kind: string; external_id: string; channel_id: string }
interface ContactDetail extends ContactSummary {
  custom_attributes: Record<string, unknown>;
  identities: Identity[];
  deals: { id: string; title: string; status: string }[];
  conversations: { id: string; status: string; channel_kind?: string; opened_at: string }[];
  opted_out: boolean;
}
interface Memory { id: string; content: string; memory_type: string; relevance_score: number; created_at: string | null }

export function Contacts() {
  return (
    <Routes>
      <Route index element={<ContactList />} />
      <Route path=":id" element={<ContactProfile />} />
    </Routes>
  );
}

function ContactList() {
  const [q, setQ] = useState("");
  const [items, setItems] = useState<ContactSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const search = useCallback(async (text: string) => {
    try {
      setItems((await get<Page<ContactSummary>>(`/contacts?limit=100${text ? `&q=${encodeURIComponent(text)}` : ""}`)).items);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);
  useEffect(() => void search(""), [search]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void search(q);
  };
  return (
    <section className="page" aria-label="Contacts">
      <header className="page-header">
        <h1>Contacts</h1>
        <form onSubmit={submit} role="search">
          <input aria-label="Search contacts" placeholder="Name, phone, tag…" value={q} onChange={(e) => setQ(e.target.value)} />
          <button type="submit">Search</button>
        </form>
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      {items === null ? <p className="muted">Loading…</p> : items.length === 0 ? <p className="muted">No contacts.</p> : (
        <table className="table">
          <thead><tr><th>Name</th><th>Tags</th><th>Last activity</th></tr></thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td><Link to={`/contacts/${c.id}`}>{c.display_name ?? "Unnamed"}</Link></td>
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

function ContactProfile() {
  const { id } = useParams();
  const [contact, setContact] = useState<ContactDetail | null>(null);
  const [graph, setGraph] = useState<{ entities: Entity[]; facts: Fact[] } | null>(null);
  const [graphError, setGraphError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState("hybrid");
  const [memories, setMemories] = useState<Memory[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    get<ContactDetail>(`/contacts/${id}`).then(setContact, (e) => setError(String(e)));
    get<{ entities: Entity[]; facts: Fact[] }>(`/contacts/${id}/graph?history=true`).then(setGraph, (e) => setGraphError(String(e)));
  }, [id]);
  const searchMemories = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setMemories((await get<Page<Memory>>(`/contacts/${id}/memories?q=${encodeURIComponent(query)}&mode=${mode}`)).items);
    } catch (err) {
      setError(String(err));
    }
  };

  if (error && !contact) return <p role="alert" className="error page">{error}</p>;
  if (!contact) return <p className="muted page">Loading…</p>;
  return (
    <section className="page profile" aria-label={`Contact ${contact.display_name ?? ""}`}>
      <header className="page-header">
        <h1>{contact.display_name ?? "Unnamed contact"}</h1>
        {contact.opted_out && <span className="badge">opted out</span>}
      </header>
      <div className="profile-grid">
        <div>
          <h2>Identities</h2>
          <ul>{contact.identities.map((i) => <li key={i.id}>{identityLabel(i.kind)}: <code>{i.external_id}</code></li>)}</ul>
          <h2>Tags</h2>
          <p>{contact.tags.length ? contact.tags.join(", ") : <span className="muted">none</span>}</p>
          <h2>Attributes</h2>
          <dl>{Object.entries(contact.custom_attributes ?? {}).map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{String(v)}</dd></div>)}</dl>
          <h2>Deals</h2>
          <ul>{contact.deals.map((d) => <li key={d.id}><Link to="/pipelines">{d.title}</Link> ({d.status})</li>)}</ul>
          <h2>Conversations</h2>
          <ul>{contact.conversations.map((c) => <li key={c.id}><Link to={`/inbox/${c.id}`}>{when(c.opened_at)} · {c.status}</Link></li>)}</ul>
        </div>
        <div>
          <h2>Memory</h2>
          <form onSubmit={(e) => void searchMemories(e)} role="search" className="inline">
            <input aria-label="Search memories" placeholder="What does she want?" value={query} onChange={(e) => setQuery(e.target.value)} required />
            <select aria-label="Search mode" value={mode} onChange={(e) => setMode(e.target.value)}>
              <option value="hybrid">Hybrid</option><option value="vector">Meaning</option><option value="keyword">Keywords</option><option value="graph">Facts</option>
            </select>
            <button type="submit">Search</button>
          </form>
          {memories && (memories.length === 0 ? <p className="muted">Nothing found.</p> : (
            <ol className="memories">{memories.map((m) => <li key={m.id}><span className="badge">{m.memory_type}</span> {m.content} <span className="muted">{Math.round(m.relevance_score * 100)}%</span></li>)}</ol>
          ))}
          <h2>Knowledge graph</h2>
          {graphError ? <p className="muted">Memory is not available right now.</p> : graph ? <KnowledgeGraph entities={graph.entities} facts={graph.facts} /> : <p className="muted">Loading…</p>}
        </div>
      </div>
    </section>
  );
}

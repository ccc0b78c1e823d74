// The inbox: conversations (live), and the selected conversation with its messages, delivery ticks,
// who answered (agent, intent, confidence), the reply box and assignment actions.
import { useCallback, useEffect, useState } from "react";
import { Link, Route, Routes, useParams } from "react-router-dom";
import { ApiError, canWrite, get, post, type Page, type Session } from "../api";
import { channelLabel, ticks, touches, when } from "../format";
import { useLiveEvents } from "../live";
import type { KnowledgeSource, Note, Ticket } from "../types";
import { Composer } from "./Composer";
import { kindLabel } from "./Tickets";

interface ConversationSummary {
  id: string;
  contact_id: string;
  contact_name: string | null;
  channel_kind: string;
  status: string;
  assigned_to: string;
  unread_count: number;
  last_activity_at: string;
  last_message: { body: string | null; direction: string; status: string } | null;
}

interface Message {
  id: string;
  direction: "inbound" | "outbound";
  body: string | null;
  status: string;
  failure_reason: string | null;
  origin: string | null;
  intent: string | null;
  confidence: number | null;
  agent_type: string | null;
  knowledge_sources: KnowledgeSource[] | null;
  provider_timestamp: string | null;
  created_at: string;
}

interface ConversationDetail extends ConversationSummary {
  handoff_reason: string | null;
  messages: Message[];
  workflow?: { id: string; url: string };
  live: { available: boolean; state?: { last_decision?: string } };
}

interface Filters {
  status: string;
  assigned_to: string;
  unread: boolean;
}

export function Inbox({ session }: { session: Session }) {
  const [filters, setFilters] = useState<Filters>({ status: "open", assigned_to: "", unread: false });
  const [items, setItems] = useState<ConversationSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  const load = useCallback(async () => {
    const q = new URLSearchParams({ limit: "100" });
    if (filters.status) q.set("status", filters.status);
    if (filters.assigned_to) q.set("assigned_to", filters.assigned_to);
    if (filters.unread) q.set("unread", "true");
    try {
      setItems((await get<Page<ConversationSummary>>(`/conversations?${q}`)).items);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [filters]);
  useEffect(() => void load(), [load, tick]);
  useLiveEvents((event) => {
    if (touches(event, null)) setTick((t) => t + 1);
  });

  return (
    <div className="inbox">
      <section className="conversation-list" aria-label="Conversations">
        <div className="filters">
          <select aria-label="Status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
            <option value="open">Open</option>
            <option value="closed">Closed</option>
            <option value="">All</option>
          </select>
          <select aria-label="Handled by" value={filters.assigned_to} onChange={(e) => setFilters({ ...filters, assigned_to: e.target.value })}>
            <option value="">Bot and humans</option>
            <option value="bot">Bot</option>
            <option value="human">Humans</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={filters.unread} onChange={(e) => setFilters({ ...filters, unread: e.target.checked })} /> Unread
          </label>
        </div>
        {error && <p role="alert" className="error">{error}</p>}
        {items === null ? (
          <p className="muted">Loading…</p>
        ) : items.length === 0 ? (
          <p className="muted">No conversations.</p>
        ) : (
          <ul>
            {items.map((c) => (
              <li key={c.id} data-testid="conversation-item">
                <Link to={`/inbox/${c.id}`}>
                  <span className="who">{c.contact_name ?? "Unknown contact"}</span>
                  <span className={`badge ${c.channel_kind}`}>{channelLabel(c.channel_kind)}</span>
                  {c.unread_count > 0 && <span className="unread" aria-label={`${c.unread_count} unread`}>{c.unread_count}</span>}
                  <span className="preview">{c.last_message?.body ?? ""}</span>
                  <span className="meta">
                    {c.assigned_to === "human" ? "human" : "bot"} · {when(c.last_activity_at)}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </section>
      <Routes>
        <Route path=":id" element={<ConversationView session={session} refreshKey={tick} />} />
        <Route path="*" element={<p className="muted placeholder">Pick a conversation.</p>} />
      </Routes>
    </div>
  );
}

/** Messages and notes in one thread, by time. */
function thread(messages: Message[], notes: Note[]): (Message | Note)[] {
  const at = (x: Message | Note) => new Date("conversation_id" in x ? x.created_at : (x.provider_timestamp ?? x.created_at)).getTime();
  return [...messages, ...notes].sort((a, b) => at(a) - at(b));
}

function ConversationView({ session, refreshKey }: { session: Session; refreshKey: number }) {
  const { id } = useParams();
  const [detail, setDetail] = useState<ConversationDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notes, setNotes] = useState<Note[]>([]);
  const [users, setUsers] = useState<{ id: string; name: string; email: string }[]>([]);
  const [tickets, setTickets] = useState<Ticket[]>([]);
  const [ticketsTick, setTicketsTick] = useState(0);
  const writable = canWrite(session.role);
  // What the agent recorded in this conversation (a refund, a cancellation, a problem).
  useEffect(() => {
    get<Page<Ticket>>(`/tickets?session_id=${id}`).then((p) => setTickets(p.items), () => setTickets([]));
  }, [id, refreshKey, ticketsTick]);
  useLiveEvents((event) => {
    if (event.type.startsWith("ticket.") && event.data["session_id"] === id) setTicketsTick((t) => t + 1);
  });
  useEffect(() => {
    if (writable) get<Page<{ id: string; name: string; email: string }>>("/users").then((p) => setUsers(p.items), () => setUsers([]));
  }, [writable]);
  const assign = async (userId: string) => {
    if (!userId) return;
    try {
      await post(`/conversations/${id}/assign`, { user_id: userId });
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail || e.title : String(e));
    }
  };

  const load = useCallback(async () => {
    try {
      const [conversation, thread] = await Promise.all([
        get<ConversationDetail>(`/conversations/${id}`),
        get<{ items: Note[] }>(`/conversations/${id}/notes`),
      ]);
      setDetail(conversation);
      setNotes(thread.items);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [id]);
  useEffect(() => void load(), [load, refreshKey]);
  useEffect(() => {
    if (writable && id) void post(`/conversations/${id}/read`).catch(() => undefined);
  }, [id, writable, refreshKey]);

  const act = async (path: string) => {
    try {
      await post(`/conversations/${id}/${path}`);
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail || e.title : String(e));
    }
  };
  if (error && !detail) return <p role="alert" className="error">{error}</p>;
  if (!detail) return <p className="muted placeholder">Loading…</p>;
  return (
    <section className="conversation" aria-label={`Conversation with ${detail.contact_name ?? "contact"}`}>
      <header>
        <h2>{detail.contact_name ?? "Unknown contact"}</h2>
        <span className={`badge ${detail.channel_kind}`}>{channelLabel(detail.channel_kind)}</span>
        <span className="meta">
          {detail.status} · {detail.assigned_to === "human" ? `held by a human${detail.handoff_reason ? ` (${detail.handoff_reason})` : ""}` : "the bot answers"}
        </span>
        {detail.workflow && (
          <a href={detail.workflow.url} target="_blank" rel="noreferrer">
            Workflow in Temporal
          </a>
        )}
        {writable && detail.status === "open" && (
          detail.assigned_to === "human" ? (
            <button type="button" onClick={() => void act("handback")}>Hand back to the bot</button>
          ) : (
            <button type="button" onClick={() => void act("takeover")}>Take over</button>
          )
        )}
        {writable && detail.status === "open" && users.length > 0 && (
          <select aria-label="Assign to" value="" onChange={(e) => void assign(e.target.value)}>
            <option value="">Assign to…</option>
            {users.map((u) => <option key={u.id} value={u.id}>{u.name || u.email}</option>)}
          </select>
        )}
      </header>
      {tickets.length > 0 && (
        <div className="tickets-here" data-testid="conversation-tickets">
          <span className="muted">Tickets:</span>
          {tickets.map((t) => (
            <Link key={t.id} to="/tickets" className={`badge ticket-${t.kind}`}>
              {kindLabel(t.kind)} · {t.subject} · {t.status.replace("_", " ")}
            </Link>
          ))}
        </div>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      <ol className="messages">
        {thread(detail.messages, notes).map((item) => {
          if ("conversation_id" in item) {
            return (
              <li key={item.id} className="message note" data-testid="note">
                <p>{item.body}</p>
                <span className="meta">Private note{item.author_name ? ` · ${item.author_name}` : ""} · {when(item.created_at)}</span>
              </li>
            );
          }
          const m = item;
          const t = ticks(m.status);
          return (
            <li key={m.id} className={`message ${m.direction}`} data-testid="message">
              <p>{m.body}</p>
              {m.knowledge_sources && m.knowledge_sources.length > 0 && (
                <details className="sources" data-testid="knowledge-sources">
                  <summary>From the knowledge base ({m.knowledge_sources.length})</summary>
                  {m.knowledge_sources.map((s) => (
                    <blockquote key={s.id} cite={s.document_title}>
                      <strong>{s.document_title}{s.heading ? ` · ${s.heading}` : ""}</strong> {s.content}
                    </blockquote>
                  ))}
                </details>
              )}
              <span className="meta">
                {m.direction === "outbound" && m.agent_type && (
                  <span className="agent" title="Who answered">
                    {m.agent_type}
                    {m.intent && ` · ${m.intent}`}
                    {m.confidence !== null && ` · ${Math.round(m.confidence * 100)}%`}
                  </span>
                )}
                {m.direction === "outbound" && !m.agent_type && m.origin && <span className="agent">{m.origin}</span>}
                {when(m.provider_timestamp ?? m.created_at)}
                {m.direction === "outbound" && (
                  <span className={`ticks ${t.tone}`} aria-label={t.label} title={m.failure_reason ?? t.label} data-status={m.status}>
                    {t.symbol}
                  </span>
                )}
              </span>
            </li>
          );
        })}
      </ol>
      {writable ? (
        <Composer conversationId={detail.id} contactId={detail.contact_id} open={detail.status === "open"} session={session}
          onSent={load} onError={setError} />
      ) : (
        <p className="muted">Viewers read conversations; replying needs the agent role.</p>
      )}
    </section>
  );
}

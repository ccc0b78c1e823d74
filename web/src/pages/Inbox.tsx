// The inbox: conversations (live) in tabs by state with counts and a search, and the selected
// conversation with its messages, delivery ticks, who answered (agent, intent, confidence), the
// reply box, assignment and lifecycle actions. The list and the thread scroll on their own.
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, Route, Routes, useNavigate, useParams } from "react-router-dom";
import { canWrite, get, type Page, post, problemText, type Session } from "../api";
import { channelLabel, originLabel, percent, ticks, touches, when } from "../format";
import i18n from "../i18n";
import { useLiveEvents } from "../live";
import type { KnowledgeSource, MediaFile, Note, Ticket } from "../types";
import { Attachments } from "./Attachments";
import { Composer } from "./Composer";
import { LifecycleActions, NotificationsButton, notifyHandoffs, type Counts } from "./ConversationActions";
import { NewConversation } from "./NewConversation";
import { kindLabel } from "./Tickets";

interface ConversationSummary {
  id: string;
  contact_id: string;
  contact_name: string | null;
  contact_phone: string | null;
  channel_kind: string;
  status: string;
  state: "open" | "pending" | "snoozed" | "resolved";
  snoozed_until: string | null;
  assignee: string | null;
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
  attachments: MediaFile[];
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
  state: string;
  assigned_to: string;
  unread: boolean;
  q: string;
}

/** Who a conversation is with: the name, else the WhatsApp number. */
export function contactLabel(c: { contact_name: string | null; contact_phone: string | null }): string {
  return c.contact_name ?? c.contact_phone ?? i18n.t("common.unknownContact");
}

const TABS = ["open", "pending", "snoozed", "resolved", ""] as const;

export function Inbox({ session }: { session: Session }) {
  const { t } = useTranslation();
  const [filters, setFilters] = useState<Filters>({ state: "open", assigned_to: "", unread: false, q: "" });
  const [search, setSearch] = useState("");
  const [tick, setTick] = useState(0);
  const [starting, setStarting] = useState(false);
  const navigate = useNavigate();
  const selected = useRef<string | null>(null);
  const queries = useQueryClient();

  const list = useQuery({
    queryKey: ["conversations", "list", filters],
    queryFn: () => {
      const q = new URLSearchParams({ limit: "100" });
      if (filters.state) q.set("state", filters.state);
      if (filters.assigned_to) q.set("assigned_to", filters.assigned_to);
      if (filters.unread) q.set("unread", "true");
      if (filters.q.trim().length >= 2) q.set("q", filters.q.trim());
      return get<Page<ConversationSummary>>(`/conversations?${q}`);
    },
    placeholderData: keepPreviousData,
  });
  const countQuery = useQuery({ queryKey: ["conversations", "counts"], queryFn: () => get<Counts>("/conversations/counts") });
  const items = list.data?.items ?? null;
  const counts = countQuery.data ?? null;
  const failure = list.error ?? countQuery.error;
  const error = failure ? problemText(failure) : null;
  // Something changed in a conversation: the list, the counts and the open conversation refetch.
  const refresh = useCallback(() => {
    setTick((n) => n + 1);
    void queries.invalidateQueries({ queryKey: ["conversations"] });
  }, [queries]);
  // Search as the operator types, once they pause.
  useEffect(() => {
    const timer = setTimeout(() => setFilters((f) => (f.q === search ? f : { ...f, q: search })), 300);
    return () => clearTimeout(timer);
  }, [search]);
  useLiveEvents((event) => {
    if (touches(event, null)) refresh();
    notifyHandoffs(event, session);
  });
  // j / k: next and previous conversation (not while typing).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || !items || items.length === 0) return;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      if (e.key !== "j" && e.key !== "k") return;
      const at = items.findIndex((c) => c.id === selected.current);
      const next = e.key === "j" ? Math.min(at + 1, items.length - 1) : Math.max(at - 1, 0);
      void navigate(`/inbox/${items[next].id}`);
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [items, navigate]);

  return (
    <div className="inbox">
      <section className="conversation-list" aria-label={t("inbox.conversations")}>
        <div className="tabs" role="tablist" aria-label={t("inbox.stateTabs")}>
          {TABS.map((state) => (
            <button key={state || "all"} type="button" role="tab" aria-selected={filters.state === state}
              className={filters.state === state ? "active" : ""} onClick={() => setFilters({ ...filters, state })}>
              {t(`inbox.tabs.${state || "all"}`)}
              {counts && state && <span className="count" data-testid={`count-${state}`}> {counts[state]}</span>}
            </button>
          ))}
        </div>
        <div className="filters">
          <input type="search" aria-label={t("common.search")} placeholder={t("inbox.searchPlaceholder")} value={search}
            onChange={(e) => setSearch(e.target.value)} />
          {canWrite(session.role) && <button type="button" onClick={() => setStarting(true)}>{t("inbox.newConversation")}</button>}
          <select aria-label={t("inbox.handledBy")} value={filters.assigned_to} onChange={(e) => setFilters({ ...filters, assigned_to: e.target.value })}>
            <option value="">{t("inbox.botAndHumans")}</option>
            <option value="bot">{t("inbox.bot")}</option>
            <option value="human">{t("inbox.humans")}</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={filters.unread} onChange={(e) => setFilters({ ...filters, unread: e.target.checked })} /> {t("inbox.unread")}
          </label>
          <NotificationsButton />
        </div>
        {error && <p role="alert" className="error">{error}</p>}
        {items === null ? (
          <p className="muted">{t("common.loading")}</p>
        ) : items.length === 0 ? (
          <p className="muted">{t("inbox.none")}</p>
        ) : (
          <ul>
            {items.map((c) => (
              <li key={c.id} data-testid="conversation-item">
                <Link to={`/inbox/${c.id}`}>
                  <span className="who">{contactLabel(c)}</span>
                  <span className={`badge ${c.channel_kind}`}>{channelLabel(c.channel_kind)}</span>
                  {c.unread_count > 0 && <span className="unread" aria-label={t("inbox.unreadCount", { count: c.unread_count })}>{c.unread_count}</span>}
                  <span className="preview">{c.last_message ? c.last_message.body || t("inbox.attachment") : ""}</span>
                  <span className="meta">
                    {c.state !== "open" && <span className={`state ${c.state}`}>{c.state === "snoozed" ? t("inbox.snoozedUntil", { when: when(c.snoozed_until) }) : t(`conversation.states.${c.state}`)} · </span>}
                    {c.assigned_to === "human" ? t("inbox.human") : t("inbox.botShort")} · {when(c.last_activity_at)}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </section>
      {starting && (
        <NewConversation onClose={() => setStarting(false)} onStarted={(id) => {
          setStarting(false);
          refresh();
          if (id) void navigate(`/inbox/${id}`);
        }} />
      )}
      <Routes>
        <Route path=":id" element={<ConversationView session={session} refreshKey={tick} selected={selected} />} />
        <Route path="*" element={<p className="muted placeholder">{t("inbox.pick")}</p>} />
      </Routes>
    </div>
  );
}

/** Messages and notes in one thread, by time. */
function thread(messages: Message[], notes: Note[]): (Message | Note)[] {
  const at = (x: Message | Note) => new Date("conversation_id" in x ? x.created_at : (x.provider_timestamp ?? x.created_at)).getTime();
  return [...messages, ...notes].sort((a, b) => at(a) - at(b));
}

function ConversationView({ session, refreshKey, selected }: { session: Session; refreshKey: number; selected: { current: string | null } }) {
  const { t } = useTranslation();
  const { id } = useParams();
  useEffect(() => {
    selected.current = id ?? null;
  }, [id, selected]);
  const queries = useQueryClient();
  const [failed, setError] = useState<string | null>(null);
  const writable = canWrite(session.role);
  const view = useQuery({
    queryKey: ["conversations", id, "detail"],
    queryFn: async () => {
      const [conversation, thread] = await Promise.all([
        get<ConversationDetail>(`/conversations/${id}`),
        get<{ items: Note[] }>(`/conversations/${id}/notes`),
      ]);
      return { conversation, notes: thread.items };
    },
  });
  const detail = view.data?.conversation ?? null;
  const notes = view.data?.notes ?? [];
  const error = failed ?? (view.error ? problemText(view.error) : null);
  // What the agent recorded in this conversation (a refund, a cancellation, a problem).
  const ticketQuery = useQuery({ queryKey: ["tickets", "session", id], queryFn: () => get<Page<Ticket>>(`/tickets?session_id=${id}`) });
  const tickets = ticketQuery.data?.items ?? [];
  useLiveEvents((event) => {
    if (event.type.startsWith("ticket.") && event.data["session_id"] === id) void queries.invalidateQueries({ queryKey: ["tickets", "session", id] });
  });
  const userQuery = useQuery({ queryKey: ["users"], queryFn: () => get<Page<{ id: string; name: string; email: string }>>("/users"), enabled: writable });
  const users = userQuery.data?.items ?? [];
  const load = useCallback(async () => {
    setError(null);
    await queries.invalidateQueries({ queryKey: ["conversations", id] });
  }, [queries, id]);
  const assign = async (userId: string) => {
    if (!userId) return;
    try {
      await post(`/conversations/${id}/assign`, { user_id: userId });
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    if (writable && id) void post(`/conversations/${id}/read`).catch(() => undefined);
  }, [id, writable, refreshKey]);

  const act = async (path: string) => {
    try {
      await post(`/conversations/${id}/${path}`);
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };
  if (error && !detail) return <p role="alert" className="error">{error}</p>;
  if (!detail) return <p className="muted placeholder">{t("common.loading")}</p>;
  const holder = detail.assigned_to !== "human" ? t("conversation.botAnswers")
    : detail.handoff_reason ? t("conversation.heldByHumanBecause", { reason: detail.handoff_reason }) : t("conversation.heldByHuman");
  return (
    <section className="conversation" aria-label={t("conversation.with", { name: contactLabel(detail) })}>
      <header>
        <h2>{contactLabel(detail)}</h2>
        <span className={`badge ${detail.channel_kind}`}>{channelLabel(detail.channel_kind)}</span>
        <span className="meta">
          {t(`conversation.states.${detail.state}`)}{detail.state === "snoozed" && detail.snoozed_until ? t("conversation.until", { when: when(detail.snoozed_until) }) : ""} · {holder}
        </span>
        {detail.workflow && (
          <a href={detail.workflow.url} target="_blank" rel="noreferrer">
            {t("conversation.workflow")}
          </a>
        )}
        {writable && detail.status === "open" && (
          detail.assigned_to === "human" ? (
            <button type="button" onClick={() => void act("handback")}>{t("conversation.handBack")}</button>
          ) : (
            <button type="button" onClick={() => void act("takeover")}>{t("conversation.takeOver")}</button>
          )
        )}
        {writable && detail.status === "open" && users.length > 0 && (
          <select aria-label={t("conversation.assignTo")} value="" onChange={(e) => void assign(e.target.value)}>
            <option value="">{t("conversation.assignToPick")}</option>
            {users.map((u) => <option key={u.id} value={u.id}>{u.name || u.email}</option>)}
          </select>
        )}
        {writable && <LifecycleActions key={detail.id} conversationId={detail.id} state={detail.state} onChanged={load} onError={setError} />}
      </header>
      {tickets.length > 0 && (
        <div className="tickets-here" data-testid="conversation-tickets">
          <span className="muted">{t("conversation.tickets")}</span>
          {tickets.map((k) => (
            <Link key={k.id} to="/tickets" className={`badge ticket-${k.kind}`}>
              {kindLabel(k.kind)} · {k.subject} · {t(`tickets.statuses.${k.status}`)}
            </Link>
          ))}
        </div>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      {/* Focusable, so the thread scrolls from the keyboard too. */}
      <ol className="messages" tabIndex={0} aria-label={t("conversation.messages")}>
        {thread(detail.messages, notes).map((item) => {
          if ("conversation_id" in item) {
            return (
              <li key={item.id} className="message note" data-testid="note">
                <p>{item.body}</p>
                <span className="meta">{t("conversation.privateNote")}{item.author_name ? ` · ${item.author_name}` : ""} · {when(item.created_at)}</span>
              </li>
            );
          }
          const m = item;
          const tick = ticks(m.status);
          return (
            <li key={m.id} className={`message ${m.direction}`} data-testid="message">
              <Attachments files={m.attachments ?? []} />
              {m.body && <p>{m.body}</p>}
              {m.knowledge_sources && m.knowledge_sources.length > 0 && (
                <details className="sources" data-testid="knowledge-sources">
                  <summary>{t("conversation.fromKnowledge", { count: m.knowledge_sources.length })}</summary>
                  {m.knowledge_sources.map((s) => (
                    <blockquote key={s.id} cite={s.document_title}>
                      <strong>{s.document_title}{s.heading ? ` · ${s.heading}` : ""}</strong> {s.content}
                    </blockquote>
                  ))}
                </details>
              )}
              <span className="meta">
                {m.direction === "outbound" && m.agent_type && (
                  <span className="agent" title={t("conversation.whoAnswered")}>
                    {m.agent_type}
                    {m.intent && ` · ${m.intent}`}
                    {m.confidence !== null && ` · ${percent(m.confidence)}`}
                  </span>
                )}
                {m.direction === "outbound" && !m.agent_type && m.origin && <span className="agent">{originLabel(m.origin)}</span>}
                {when(m.provider_timestamp ?? m.created_at)}
                {m.direction === "outbound" && (
                  <span className={`ticks ${tick.tone}`} aria-label={tick.label} title={m.failure_reason ?? tick.label} data-status={m.status}>
                    {tick.symbol}
                  </span>
                )}
              </span>
            </li>
          );
        })}
      </ol>
      {writable ? (
        <Composer conversationId={detail.id} contactId={detail.contact_id} channelKind={detail.channel_kind} open session={session}
          onSent={load} onError={setError} />
      ) : (
        <p className="muted">{t("conversation.viewersRead")}</p>
      )}
    </section>
  );
}

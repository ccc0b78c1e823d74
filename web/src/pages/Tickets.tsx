// Tickets and follow-up tasks: what the AI agents told customers was recorded (a refund, a
// cancellation, a technical problem), and what operators must do by when. Agents and admins
// change statuses and complete tasks; viewers read. The list follows the live stream, and a task
// that comes due for this user (or the whole team) is announced at the top.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api, ApiError, canWrite, get, type Page, type Session } from "../api";
import { when } from "../format";
import { useLiveEvents } from "../live";
import type { Task, Ticket, TicketStatus } from "../types";

const KIND_LABELS: Record<string, string> = { support: "Support", refund: "Refund", cancellation: "Cancellation" };
const STATUSES: TicketStatus[] = ["open", "in_progress", "resolved", "closed"];
const STATUS_LABELS: Record<TicketStatus, string> = { open: "Open", in_progress: "In progress", resolved: "Resolved", closed: "Closed" };

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

export function Tickets({ session }: { session: Session }) {
  const [filter, setFilter] = useState("active");
  const [tickets, setTickets] = useState<Ticket[] | null>(null);
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [due, setDue] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const writable = canWrite(session.role);

  const load = useCallback(async () => {
    try {
      const q = filter ? `?status=${filter}&limit=100` : "?limit=100";
      const [t, k] = await Promise.all([
        get<Page<Ticket>>(`/tickets${q}`),
        get<Page<Task>>("/tasks?status=open&sort=due_at&limit=100"),
      ]);
      setTickets(t.items);
      setTasks(k.items);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [filter]);
  useEffect(() => void load(), [load]);
  useLiveEvents((event) => {
    if (!event.type.startsWith("ticket.") && !event.type.startsWith("task.")) return;
    void load();
    const assignee = event.data["assignee_id"];
    if (event.type === "task.due" && (assignee === null || assignee === undefined || assignee === session.userId)) {
      setDue((d) => [...d, String(event.data["task_id"])]);
    }
  });

  const change = async (path: string, body: unknown) => {
    try {
      await api("PATCH", path, body);
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail || e.title : String(e));
    }
  };
  const dueTitles = (tasks ?? []).filter((t) => due.includes(t.id)).map((t) => t.title);

  return (
    <section className="page" aria-label="Tickets">
      <header className="page-header">
        <h1>Tickets</h1>
        <select aria-label="Ticket status" value={filter} onChange={(e) => setFilter(e.target.value)}>
          <option value="active">Open and in progress</option>
          {STATUSES.map((s) => <option key={s} value={s}>{STATUS_LABELS[s]}</option>)}
          <option value="">All</option>
        </select>
      </header>
      <p className="muted">Requests the agents recorded for the team (and ones operators opened), each linked to its conversation. A follow-up task tells the team when a request has waited too long.</p>
      {dueTitles.length > 0 && (
        <p role="status" className="due-now" data-testid="task-due">Due now: {dueTitles.join(", ")}</p>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      {tickets === null ? <p className="muted">Loading…</p> : tickets.length === 0 ? <p className="muted">No tickets.</p> : (
        <table className="table" data-testid="tickets">
          <thead><tr><th>Kind</th><th>Subject</th><th>Contact</th><th>Opened by</th><th>Opened</th><th>Status</th></tr></thead>
          <tbody>
            {tickets.map((t) => (
              <tr key={t.id} data-testid="ticket">
                <td><span className={`badge ticket-${t.kind}`}>{kindLabel(t.kind)}</span></td>
                <td>{t.session_id ? <Link to={`/inbox/${t.session_id}`}>{t.subject}</Link> : t.subject}</td>
                <td>{t.contact_name ?? "Unknown contact"}</td>
                <td>{t.created_by.startsWith("agent:") ? `AI (${t.created_by.slice(6)})` : "Operator"}</td>
                <td>{when(t.created_at)}</td>
                <td>
                  {writable ? (
                    <select aria-label={`Status of ${t.subject}`} value={t.status} onChange={(e) => void change(`/tickets/${t.id}`, { status: e.target.value })}>
                      {STATUSES.map((s) => <option key={s} value={s}>{STATUS_LABELS[s]}</option>)}
                    </select>
                  ) : STATUS_LABELS[t.status]}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Follow-up tasks</h2>
      {tasks === null ? <p className="muted">Loading…</p> : tasks.length === 0 ? <p className="muted">Nothing to follow up.</p> : (
        <table className="table" data-testid="tasks">
          <thead><tr><th>Task</th><th>Contact</th><th>Due</th>{writable && <th><span className="sr-only">Actions</span></th>}</tr></thead>
          <tbody>
            {tasks.map((t) => {
              const overdue = new Date(t.due_at).getTime() <= Date.now();
              return (
                <tr key={t.id} data-testid="task" className={overdue ? "overdue" : undefined}>
                  <td>{t.title}</td>
                  <td>{t.contact_name ?? ""}</td>
                  <td>{overdue ? <strong>overdue since {when(t.due_at)}</strong> : when(t.due_at)}</td>
                  {writable && <td><button type="button" onClick={() => void change(`/tasks/${t.id}`, { status: "done" })} aria-label={`Mark ${t.title} done`}>Done</button></td>}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

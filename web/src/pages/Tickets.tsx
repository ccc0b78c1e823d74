// Tickets and follow-up tasks: what the AI agents told customers was recorded (a refund, a
// cancellation, a technical problem), and what operators must do by when. Agents and admins
// change statuses and complete tasks; viewers read. The list follows the live stream, and a task
// that comes due for this user (or the whole team) is announced at the top.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { api, canWrite, get, type Page, problemText, type Session } from "../api";
import { when } from "../format";
import i18n from "../i18n";
import { useLiveEvents } from "../live";
import type { Task, Ticket, TicketKind, TicketStatus } from "../types";

const STATUSES: TicketStatus[] = ["open", "in_progress", "resolved", "closed"];

export function kindLabel(kind: TicketKind): string {
  return i18n.t(`tickets.kinds.${kind}`);
}

export function Tickets({ session }: { session: Session }) {
  const { t } = useTranslation();
  const [filter, setFilter] = useState("active");
  const [due, setDue] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const writable = canWrite(session.role);
  const queries = useQueryClient();
  const ticketQuery = useQuery({
    queryKey: ["tickets", filter],
    queryFn: () => get<Page<Ticket>>(filter ? `/tickets?status=${filter}&limit=100` : "/tickets?limit=100"),
  });
  const taskQuery = useQuery({ queryKey: ["tasks", "open"], queryFn: () => get<Page<Task>>("/tasks?status=open&sort=due_at&limit=100") });
  const tickets = ticketQuery.data?.items ?? null;
  const tasks = taskQuery.data?.items ?? null;
  const load = useCallback(async () => {
    await Promise.all([queries.invalidateQueries({ queryKey: ["tickets"] }), queries.invalidateQueries({ queryKey: ["tasks"] })]);
  }, [queries]);
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
      setError(null);
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };
  const dueTitles = (tasks ?? []).filter((k) => due.includes(k.id)).map((k) => k.title);

  return (
    <section className="page" aria-label={t("tickets.title")}>
      <header className="page-header">
        <h1>{t("tickets.title")}</h1>
        <select aria-label={t("tickets.filter")} value={filter} onChange={(e) => setFilter(e.target.value)}>
          <option value="active">{t("tickets.active")}</option>
          {STATUSES.map((s) => <option key={s} value={s}>{t(`tickets.statuses.${s}`)}</option>)}
          <option value="">{t("common.all")}</option>
        </select>
      </header>
      <p className="muted">{t("tickets.intro")}</p>
      {dueTitles.length > 0 && (
        <p role="status" className="due-now" data-testid="task-due">{t("tickets.dueNow", { titles: dueTitles.join(", ") })}</p>
      )}
      {(error ?? ticketQuery.error ?? taskQuery.error) && <p role="alert" className="error">{error ?? problemText(ticketQuery.error ?? taskQuery.error)}</p>}
      {tickets === null ? <p className="muted">{t("common.loading")}</p> : tickets.length === 0 ? <p className="muted">{t("tickets.none")}</p> : (
        <table className="table" data-testid="tickets">
          <thead><tr><th>{t("tickets.kind")}</th><th>{t("tickets.subject")}</th><th>{t("common.contact")}</th><th>{t("tickets.openedBy")}</th><th>{t("tickets.opened")}</th><th>{t("common.status")}</th></tr></thead>
          <tbody>
            {tickets.map((k) => (
              <tr key={k.id} data-testid="ticket">
                <td><span className={`badge ticket-${k.kind}`}>{kindLabel(k.kind)}</span></td>
                <td>{k.session_id ? <Link to={`/inbox/${k.session_id}`}>{k.subject}</Link> : k.subject}</td>
                <td>{k.contact_name ?? t("common.unknownContact")}</td>
                <td>{k.created_by.startsWith("agent:") ? t("tickets.byAgent", { agent: k.created_by.slice(6) }) : t("tickets.byOperator")}</td>
                <td>{when(k.created_at)}</td>
                <td>
                  {writable ? (
                    <select aria-label={t("tickets.statusOf", { subject: k.subject })} value={k.status} onChange={(e) => void change(`/tickets/${k.id}`, { status: e.target.value })}>
                      {STATUSES.map((s) => <option key={s} value={s}>{t(`tickets.statuses.${s}`)}</option>)}
                    </select>
                  ) : t(`tickets.statuses.${k.status}`)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t("tickets.tasks")}</h2>
      {tasks === null ? <p className="muted">{t("common.loading")}</p> : tasks.length === 0 ? <p className="muted">{t("tickets.noTasks")}</p> : (
        <table className="table" data-testid="tasks">
          <thead><tr><th>{t("tickets.task")}</th><th>{t("common.contact")}</th><th>{t("tickets.due")}</th>{writable && <th><span className="sr-only">{t("common.actions")}</span></th>}</tr></thead>
          <tbody>
            {tasks.map((k) => {
              const overdue = new Date(k.due_at).getTime() <= Date.now();
              return (
                <tr key={k.id} data-testid="task" className={overdue ? "overdue" : undefined}>
                  <td>{k.title}</td>
                  <td>{k.contact_name ?? ""}</td>
                  <td>{overdue ? <strong>{t("tickets.overdue", { when: when(k.due_at) })}</strong> : when(k.due_at)}</td>
                  {writable && <td><button type="button" onClick={() => void change(`/tasks/${k.id}`, { status: "done" })} aria-label={t("tickets.markDone", { title: k.title })}>{t("common.done")}</button></td>}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Where a conversation stands for the team: resolve, reopen, pending and snooze (until a time the
// workflow keeps), with the `e` shortcut to resolve; and the browser notification an operator gets
// when a chat is handed to a human or assigned to them.
import { useEffect, useState } from "react";
import { ApiError, post, type Session } from "../api";
import type { LiveEvent } from "../live";

export interface Counts {
  open: number;
  pending: number;
  snoozed: number;
  resolved: number;
  mine: number;
  unassigned: number;
}

type State = "open" | "pending" | "snoozed" | "resolved";

/** Snooze choices: an hour, this evening's end (tomorrow 09:00) or next Monday 09:00. */
export function snoozeTimes(now: Date): { label: string; until: Date }[] {
  const hour = new Date(now.getTime() + 60 * 60 * 1000);
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  tomorrow.setHours(9, 0, 0, 0);
  const monday = new Date(now);
  monday.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7));
  monday.setHours(9, 0, 0, 0);
  return [
    { label: "1 hour", until: hour },
    { label: "Tomorrow 09:00", until: tomorrow },
    { label: "Next Monday 09:00", until: monday },
  ];
}

interface Props {
  conversationId: string;
  state: State;
  onChanged: () => Promise<void> | void;
  onError: (message: string) => void;
}

export function LifecycleActions({ conversationId, state, onChanged, onError }: Props) {
  const [custom, setCustom] = useState("");
  const act = async (path: string, body: unknown = {}) => {
    try {
      await post(`/conversations/${conversationId}/${path}`, body);
      await onChanged();
    } catch (e) {
      onError(e instanceof ApiError ? e.detail || e.title : String(e));
    }
  };
  // e: resolve the open conversation (not while typing).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.key !== "e" || e.ctrlKey || e.metaKey || e.altKey || state === "resolved") return;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      e.preventDefault();
      void act("resolve");
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });
  if (state === "resolved") {
    return <button type="button" onClick={() => void act("reopen")}>Reopen</button>;
  }
  const snooze = (until: Date) => void act("snooze", { until: until.toISOString() });
  return (
    <span className="lifecycle">
      <button type="button" title="Resolve (e)" onClick={() => void act("resolve")}>Resolve</button>
      {state !== "open" && <button type="button" onClick={() => void act("reopen")}>Reopen</button>}
      {state !== "pending" && <button type="button" onClick={() => void act("pending")}>Mark pending</button>}
      <select aria-label="Snooze" value="" onChange={(e) => {
        const choice = snoozeTimes(new Date()).find((c) => c.label === e.target.value);
        if (choice) snooze(choice.until);
      }}>
        <option value="">Snooze…</option>
        {snoozeTimes(new Date()).map((c) => <option key={c.label} value={c.label}>{c.label}</option>)}
      </select>
      <input type="datetime-local" step={1} aria-label="Snooze until" value={custom} onChange={(e) => setCustom(e.target.value)} />
      <button type="button" disabled={!custom} onClick={() => snooze(new Date(custom))}>Snooze until</button>
    </span>
  );
}

/** A browser notification when a chat goes to the human queue or to me (if the operator allowed). */
export function notifyHandoffs(event: LiveEvent, session: Session): void {
  if (event.type !== "session.assignment_changed" || typeof Notification === "undefined") return;
  if (Notification.permission !== "granted" || event.data["assigned_to"] !== "human") return;
  const assignee = event.data["assignee"];
  const mine = assignee === session.userId;
  if (assignee && !mine) return;
  const title = mine ? "A conversation was assigned to you" : "A conversation needs a human";
  const reason = typeof event.data["reason"] === "string" ? ` (${event.data["reason"]})` : "";
  new Notification(title, { body: `Open the inbox to answer${reason}.`, tag: typeof event.data["session_id"] === "string" ? event.data["session_id"] : undefined });
}

/** Asks once for permission to notify, from a click (browsers ignore it otherwise). */
export function NotificationsButton() {
  const [permission, setPermission] = useState(typeof Notification === "undefined" ? "denied" : Notification.permission);
  if (permission !== "default") return null;
  return (
    <button type="button" onClick={() => void Notification.requestPermission().then(setPermission)}>
      Notify me of handoffs
    </button>
  );
}

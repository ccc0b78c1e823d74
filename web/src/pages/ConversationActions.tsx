// Where a conversation stands for the team: resolve, reopen, pending and snooze (until a time the
// workflow keeps), with the `e` shortcut to resolve; and the browser notification an operator gets
// when a chat is handed to a human or assigned to them.
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { post, problemText, type Session } from "../api";
import i18n from "../i18n";
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
export function snoozeTimes(now: Date): { key: "oneHour" | "tomorrow" | "nextMonday"; until: Date }[] {
  const hour = new Date(now.getTime() + 60 * 60 * 1000);
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  tomorrow.setHours(9, 0, 0, 0);
  const monday = new Date(now);
  monday.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7));
  monday.setHours(9, 0, 0, 0);
  return [
    { key: "oneHour", until: hour },
    { key: "tomorrow", until: tomorrow },
    { key: "nextMonday", until: monday },
  ];
}

interface Props {
  conversationId: string;
  state: State;
  onChanged: () => Promise<void> | void;
  onError: (message: string) => void;
}

export function LifecycleActions({ conversationId, state, onChanged, onError }: Props) {
  const { t } = useTranslation();
  const [custom, setCustom] = useState("");
  const act = async (path: string, body: unknown = {}) => {
    try {
      await post(`/conversations/${conversationId}/${path}`, body);
      await onChanged();
    } catch (e) {
      onError(problemText(e));
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
    return <button type="button" onClick={() => void act("reopen")}>{t("lifecycle.reopen")}</button>;
  }
  const snooze = (until: Date) => void act("snooze", { until: until.toISOString() });
  return (
    <span className="lifecycle">
      <button type="button" title={t("lifecycle.resolveHint")} onClick={() => void act("resolve")}>{t("lifecycle.resolve")}</button>
      {state !== "open" && <button type="button" onClick={() => void act("reopen")}>{t("lifecycle.reopen")}</button>}
      {state !== "pending" && <button type="button" onClick={() => void act("pending")}>{t("lifecycle.markPending")}</button>}
      <select aria-label={t("lifecycle.snooze")} value="" onChange={(e) => {
        const choice = snoozeTimes(new Date()).find((c) => c.key === e.target.value);
        if (choice) snooze(choice.until);
      }}>
        <option value="">{t("lifecycle.snoozePick")}</option>
        {snoozeTimes(new Date()).map((c) => <option key={c.key} value={c.key}>{t(`lifecycle.${c.key}`)}</option>)}
      </select>
      <input type="datetime-local" step={1} aria-label={t("lifecycle.snoozeUntil")} value={custom} onChange={(e) => setCustom(e.target.value)} />
      <button type="button" disabled={!custom} onClick={() => snooze(new Date(custom))}>{t("lifecycle.snoozeUntil")}</button>
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
  const title = mine ? i18n.t("lifecycle.notifyAssigned") : i18n.t("lifecycle.notifyHuman");
  const reason = event.data["reason"];
  const body = typeof reason === "string" ? i18n.t("lifecycle.notifyBodyBecause", { reason }) : i18n.t("lifecycle.notifyBody");
  new Notification(title, { body, tag: typeof event.data["session_id"] === "string" ? event.data["session_id"] : undefined });
}

/** Asks once for permission to notify, from a click (browsers ignore it otherwise). */
export function NotificationsButton() {
  const { t } = useTranslation();
  const [permission, setPermission] = useState(typeof Notification === "undefined" ? "denied" : Notification.permission);
  if (permission !== "default") return null;
  return (
    <button type="button" onClick={() => void Notification.requestPermission().then(setPermission)}>
      {t("lifecycle.notifyMe")}
    </button>
  );
}

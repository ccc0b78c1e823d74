// Outbound webhook subscriptions (admins): where Ventros sends the tenant's events, which ones,
// paused or receiving; each subscription's deliveries with their attempts and last answer, and
// "send again" for one that failed (same delivery id: receivers still deduplicate). The signing
// secret is shown once, when the subscription is created.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, type Page, post, problemText } from "../../api";
import { dateTime, number } from "../../format";
import type { CreatedSubscription, Delivery, Subscription, Subscriptions } from "../../types";
import { ShownOnce } from "./ShownOnce";

const EMPTY = { url: "", description: "", event_types: [] as string[] };

export function Webhooks() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const subscriptions = useQuery({
    queryKey: ["webhooks"],
    queryFn: () => get<Subscriptions>("/webhook-subscriptions"),
    // Counts move while deliveries wait for an attempt or a retry.
    refetchInterval: (query) => (query.state.data?.items.some((s) => s.deliveries.pending > 0) ? 2000 : false),
  });
  const [form, setForm] = useState(EMPTY);
  const [open, setOpen] = useState<string | null>(null);
  const done = () => queries.invalidateQueries({ queryKey: ["webhooks"] });
  const create = useMutation({
    mutationFn: () => post<CreatedSubscription>("/webhook-subscriptions", { ...form, description: form.description || null }),
    onSuccess: async () => { setForm(EMPTY); await done(); },
  });
  const change = useMutation({ mutationFn: ({ id, active }: { id: string; active: boolean }) => api("PATCH", `/webhook-subscriptions/${id}`, { active }), onSuccess: done });
  const remove = useMutation({ mutationFn: (id: string) => api("DELETE", `/webhook-subscriptions/${id}`), onSuccess: done });
  const error = create.error ?? change.error ?? remove.error ?? subscriptions.error;
  const toggle = (type: string, on: boolean) =>
    setForm({ ...form, event_types: on ? [...form.event_types, type] : form.event_types.filter((x) => x !== type) });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <div className="settings-body">
      <p className="muted">{t("settings.hooksIntro")}</p>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      {create.data && <ShownOnce label={t("settings.secretOnce", { url: create.data.url })} secret={create.data.secret} />}
      <form className="stack" onSubmit={submit} aria-label={t("settings.newHook")}>
        <h2>{t("settings.newHook")}</h2>
        <label>{t("settings.url")}<input type="url" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} required maxLength={2000} placeholder="https://erp.example.com/ventros" /></label>
        <label>{t("settings.description")}<input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} maxLength={500} /></label>
        <fieldset className="event-types">
          <legend>{t("settings.events")}</legend>
          <label className="check"><input type="checkbox" checked={form.event_types.includes("*")} onChange={(e) => toggle("*", e.target.checked)} /> {t("settings.allEvents")}</label>
          {!form.event_types.includes("*") && subscriptions.data?.event_types.map((type) => (
            <label key={type} className="check"><input type="checkbox" checked={form.event_types.includes(type)} onChange={(e) => toggle(type, e.target.checked)} /> <code>{type}</code></label>
          ))}
        </fieldset>
        <div><button type="submit" disabled={create.isPending || form.event_types.length === 0}>{t("settings.createHook")}</button></div>
      </form>
      {subscriptions.data && (subscriptions.data.items.length === 0 ? <p className="muted">{t("settings.noHooks")}</p> : (
        <ul className="subscriptions">
          {subscriptions.data.items.map((s) => (
            <li key={s.id} className="panel" data-testid="subscription">
              <p>
                <strong>{s.url}</strong> <span className="badge" data-status={s.active ? "active" : "paused"}>{s.active ? t("settings.receiving") : t("settings.paused")}</span>
                {s.description && <span className="muted"> · {s.description}</span>}
              </p>
              <p className="muted"><code>{s.event_types.join(", ")}</code> · {t("settings.counts", { delivered: number(s.deliveries.delivered), failed: number(s.deliveries.failed), pending: number(s.deliveries.pending) })}</p>
              <div className="actions">
                <button type="button" aria-expanded={open === s.id} aria-label={t("settings.showDeliveries", { url: s.url })} onClick={() => setOpen(open === s.id ? null : s.id)}>{t("settings.deliveries")}</button>
                <button type="button" aria-label={s.active ? t("settings.pauseOne", { url: s.url }) : t("settings.resumeOne", { url: s.url })}
                  onClick={() => change.mutate({ id: s.id, active: !s.active })}>{s.active ? t("settings.pause") : t("settings.resume")}</button>
                <button type="button" aria-label={t("settings.deleteHook", { url: s.url })} onClick={() => {
                  if (window.confirm(t("settings.confirmDeleteHook", { url: s.url }))) remove.mutate(s.id);
                }}>{t("common.delete")}</button>
              </div>
              {open === s.id && <Deliveries subscription={s} />}
            </li>
          ))}
        </ul>
      ))}
    </div>
  );
}

function Deliveries({ subscription }: { subscription: Subscription }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const deliveries = useQuery({
    queryKey: ["deliveries", subscription.id],
    queryFn: () => get<Page<Delivery>>(`/webhook-subscriptions/${subscription.id}/deliveries?limit=50`),
    // While something is on its way, follow it (the retries are the workflow's, seconds apart).
    refetchInterval: (query) => (query.state.data?.items.some((d) => d.status === "pending" || d.status === "retrying") ? 2000 : false),
  });
  const again = useMutation({
    mutationFn: (id: string) => post(`/webhook-deliveries/${id}/redeliver`),
    onSuccess: () => Promise.all([queries.invalidateQueries({ queryKey: ["deliveries", subscription.id] }), queries.invalidateQueries({ queryKey: ["webhooks"] })]),
  });
  const error = again.error ?? deliveries.error;
  if (!deliveries.data) return error ? <p role="alert" className="error">{problemText(error)}</p> : <p className="muted">{t("common.loading")}</p>;
  if (deliveries.data.items.length === 0) return <p className="muted">{t("settings.noDeliveries")}</p>;
  return (
    <>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      <div className="table-scroll">
        <table className="table" data-testid="deliveries">
          <thead>
            <tr><th>{t("settings.event")}</th><th>{t("common.status")}</th><th>{t("settings.attempts")}</th><th>{t("settings.response")}</th><th>{t("settings.lastAttempt")}</th><th><span className="sr-only">{t("common.actions")}</span></th></tr>
          </thead>
          <tbody>
            {deliveries.data.items.map((d) => (
              <tr key={d.id} data-testid="delivery">
                <td><code>{d.event_type}</code></td>
                <td data-status={d.status}>{t(`settings.deliveryStatuses.${d.status}`)}</td>
                <td>{number(d.attempts)}</td>
                <td>{d.last_status_code ?? ""}{d.last_error ? ` ${d.last_error}` : ""}</td>
                <td>{d.last_attempt_at ? dateTime(d.last_attempt_at) : ""}</td>
                <td>
                  {d.status === "failed" && (
                    <button type="button" aria-label={t("settings.redeliverOne", { event: d.event_type })} onClick={() => again.mutate(d.id)}>{t("settings.redeliver")}</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

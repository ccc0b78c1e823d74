// A new campaign: who (segment, with its live count and reach), on which channel (with its sending
// protection), what (the agent and its brief), when (now, once, a cron expression or an interval,
// with the next runs shown in the campaign's time zone), the send window and its days, a rate
// limit and the best-time switch; then a preview of the message for a sample contact before
// anything is scheduled. The campaign is saved as a draft for the preview and scheduled last.
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { api, get, type Page, post, problemText, type Session } from "../../api";
import { channelLabel, weekday } from "../../format";
import { currentLocale } from "../../i18n";
import type { Channel, FilterPreview, Segment } from "../../types";
import { PacingPanel } from "./PacingPanel";
import { nextRuns, type ScheduleForm, type ScheduleKind, toApiSchedule } from "./schedule";

interface Agent { type: string; name: string; description: string }
interface Preview { segment_count: number; reachable_count: number; sample: { id: string; display_name: string | null }[] }
interface MessagePreview { contact_id: string; text: string; send_at: string | null; time_zone: string; would_skip: string | null }

const KINDS: ScheduleKind[] = ["now", "once", "cron", "interval"];
/** Until the agent service answers: the agent campaigns use by default. */
const DEFAULT_AGENTS: Agent[] = [{ type: "SalesAgent", name: "SalesAgent", description: "" }];
/** An example for the cron field: Mondays at 09:00. */
const CRON_EXAMPLE = "0 9 * * MON";
/** ISO weekdays, Monday first, as the API's send window counts them. */
const DAYS = [1, 2, 3, 4, 5, 6, 7] as const;

export function NewCampaign({ session }: { session: Session }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const locale = currentLocale();
  const channels = useQuery({ queryKey: ["channels"], queryFn: () => get<Page<Channel>>("/channels") });
  const segments = useQuery({ queryKey: ["segments"], queryFn: () => get<Page<Segment>>("/segments") });
  const agents = useQuery({ queryKey: ["agents"], queryFn: () => get<{ items: Agent[] }>("/agents") });
  const [form, setForm] = useState({
    name: "", channel_id: "", segment_id: "", objective: "", agent_type: "SalesAgent", start: "09:00", end: "18:00",
    days: [...DAYS] as number[], time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone, rate: "", best_time: true,
  });
  const [schedule, setSchedule] = useState<ScheduleForm>({ kind: "now", at: "", expression: CRON_EXAMPLE, every: "1", unit: "days" });
  const [draft, setDraft] = useState<string | null>(null);
  const [preview, setPreview] = useState<{ reach: Preview; message: MessagePreview | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const channelId = form.channel_id || channels.data?.items[0]?.id || "";
  const segmentId = form.segment_id || segments.data?.items[0]?.id || "";
  const channel = channels.data?.items.find((c) => c.id === channelId);
  const segment = segments.data?.items.find((s) => s.id === segmentId);
  // The list has no counts: a segment's own read previews it (the same query the Segments page uses).
  const segmentCount = useQuery({ queryKey: ["segments", segmentId], queryFn: () => get<FilterPreview>(`/segments/${segmentId}`), enabled: segmentId !== "" });
  const count = segmentCount.data?.count ?? 0;
  const runs = nextRuns(schedule, form.time_zone, new Date());
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const setKind = (k: keyof ScheduleForm) => (e: { target: { value: string } }) => setSchedule({ ...schedule, [k]: e.target.value });
  const when = (d: Date) => new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short", timeZone: form.time_zone }).format(d);

  /** The campaign as the API takes it, saved as a draft (created once, then updated). */
  const save = async (): Promise<string> => {
    const body = {
      name: form.name, channel_id: channelId, segment_id: segmentId, objective: form.objective, agent_type: form.agent_type,
      schedule: toApiSchedule(schedule), time_zone: form.time_zone, best_send_time: form.best_time,
      rate_limit_per_minute: form.rate.trim() === "" ? null : Number(form.rate),
      send_window: { days: form.days, start: form.start, end: form.end },
    };
    if (draft) {
      await api("PATCH", `/campaigns/${draft}`, body);
      return draft;
    }
    const created = await post<{ id: string }>("/campaigns", body);
    setDraft(created.id);
    return created.id;
  };
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  const showPreview = () => run(async () => {
    const id = await save();
    const reach = await get<Preview>(`/campaigns/${id}/preview`);
    const first = reach.sample[0];
    const message = first ? await post<MessagePreview>(`/campaigns/${id}/preview-message`, { contact_id: first.id }) : null;
    setPreview({ reach, message });
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const id = await save();
      await post(`/campaigns/${id}/schedule`);
      void navigate(`/campaigns/${id}`);
    });
  };
  const sampleName = preview?.message ? preview.reach.sample.find((c) => c.id === preview.message?.contact_id)?.display_name : null;

  return (
    <form className="page form" onSubmit={submit} aria-label={t("campaigns.new")}>
      <h1>{t("campaigns.new")}</h1>
      <label>{t("campaigns.name")}<input required maxLength={200} value={form.name} onChange={set("name")} /></label>
      <label>{t("campaigns.channel")}
        <select value={channelId} onChange={set("channel_id")}>{channels.data?.items.map((c) => <option key={c.id} value={c.id}>{c.name} ({channelLabel(c.kind)})</option>)}</select>
      </label>
      <label>{t("campaigns.segment")}
        <select value={segmentId} onChange={set("segment_id")}>{segments.data?.items.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select>
      </label>
      {segment && segmentCount.data && <p className="muted" data-testid="segment-count">{t("campaigns.inSegment", { count })}</p>}
      {channel && <PacingPanel channel={channel} reach={count} admin={session.role === "admin"} onSaved={() => void channels.refetch()} />}
      <label>{t("campaigns.agent")}
        <select value={form.agent_type} onChange={set("agent_type")}>
          {(agents.data?.items ?? DEFAULT_AGENTS).map((a) => <option key={a.type} value={a.type}>{a.name}</option>)}
        </select>
      </label>
      <label>{t("campaigns.brief")}<textarea required rows={3} maxLength={4000} value={form.objective} onChange={set("objective")} placeholder={t("campaigns.briefPlaceholder")} /></label>
      <fieldset>
        <legend>{t("campaigns.when")}</legend>
        {KINDS.map((k) => (
          <label key={k} className="check"><input type="radio" name="when" value={k} checked={schedule.kind === k} onChange={setKind("kind")} /> {t(`campaigns.kinds.${k}`)}</label>
        ))}
        {schedule.kind === "once" && <input type="datetime-local" aria-label={t("campaigns.sendAt")} required value={schedule.at} onChange={setKind("at")} />}
        {schedule.kind === "cron" && (
          <label>{t("campaigns.cron")}<input required value={schedule.expression} onChange={setKind("expression")} placeholder={CRON_EXAMPLE} /></label>
        )}
        {schedule.kind === "interval" && (
          <span className="inline-label">
            <label className="inline-label">{t("campaigns.every")}<input type="number" min={1} required value={schedule.every} onChange={setKind("every")} /></label>
            <select aria-label={t("campaigns.unit")} value={schedule.unit} onChange={setKind("unit")}>
              <option value="hours">{t("campaigns.hours")}</option>
              <option value="days">{t("campaigns.days")}</option>
            </select>
          </span>
        )}
        {schedule.kind !== "now" && ("error" in runs ? (
          <p role="alert" className="error">{schedule.kind === "cron" ? t("campaigns.badCron") : t("campaigns.badInterval")}</p>
        ) : runs.runs.length > 0 && (
          <div data-testid="next-runs">
            <p className="muted">{t("campaigns.nextRuns", { zone: form.time_zone })}</p>
            <ol>{runs.runs.map((d) => <li key={d.getTime()}>{when(d)}</li>)}</ol>
          </div>
        ))}
      </fieldset>
      <fieldset>
        <legend>{t("campaigns.window", { zone: form.time_zone })}</legend>
        <input type="time" aria-label={t("campaigns.opens")} value={form.start} onChange={set("start")} />
        <input type="time" aria-label={t("campaigns.closes")} value={form.end} onChange={set("end")} />
        <div className="event-types">
          {DAYS.map((d) => (
            <label key={d} className="check"><input type="checkbox" checked={form.days.includes(d)}
              onChange={(e) => setForm({ ...form, days: e.target.checked ? [...form.days, d].sort() : form.days.filter((x) => x !== d) })} /> {weekday(d)}</label>
          ))}
        </div>
        <label>{t("campaigns.timeZone")}<input value={form.time_zone} onChange={set("time_zone")} required /></label>
      </fieldset>
      <label>{t("campaigns.rate")}<input type="number" min={1} max={100000} value={form.rate} onChange={set("rate")} /></label>
      <label className="check"><input type="checkbox" checked={form.best_time} onChange={(e) => setForm({ ...form, best_time: e.target.checked })} /> {t("campaigns.bestTime")}</label>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions">
        <button type="button" disabled={busy || !form.name.trim() || !form.objective.trim()} onClick={() => void showPreview()}>{t("campaigns.preview")}</button>
        <button type="submit" disabled={busy}>{busy ? t("campaigns.starting") : t("campaigns.create")}</button>
      </div>
      {preview && (
        <section className="panel" aria-label={t("campaigns.previewTitle")} data-testid="message-preview">
          <h2>{t("campaigns.previewTitle")}</h2>
          <p className="muted">{t("campaigns.reach", { reachable: preview.reach.reachable_count, total: preview.reach.segment_count })}</p>
          {preview.message ? (
            <>
              <p className="muted">{t("campaigns.previewFor", { name: sampleName ?? preview.message.contact_id.slice(0, 8) })}</p>
              <blockquote>{preview.message.text}</blockquote>
              <p className="muted">
                {preview.message.would_skip ? t("campaigns.wouldSkip", { reason: preview.message.would_skip })
                  : preview.message.send_at ? t("campaigns.sendsAt", { when: when(new Date(preview.message.send_at)) }) : t("campaigns.windowNever")}
              </p>
            </>
          ) : <p className="muted">{t("campaigns.noneReachable")}</p>}
        </section>
      )}
    </form>
  );
}

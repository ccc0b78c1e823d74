// Campaigns: list; create (segment with its live count and reach, the agent's brief, schedule,
// window); a campaign's live progress, per-recipient statuses and funnel chart.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, Route, Routes, useNavigate, useParams } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, canWrite, get, type Page, post, problemText, type Session } from "../api";
import { channelLabel, dateTime, number } from "../format";
import type { CampaignStatus, RecipientStatus } from "../types";
import { useLiveEvents } from "../live";

interface Campaign { id: string; name: string; status: CampaignStatus; channel_id: string; segment_id: string; objective: string; created_at: string }
interface PacingClock { next_slot_at: string | null; day: string | null; reserved_on_day: number }
interface Pacing { min_interval_secs: number; max_interval_secs: number; daily_cap: number | null; typing: boolean; clock?: PacingClock | null }
interface Channel { id: string; name: string; kind: string; settings: Record<string, unknown>; campaign_pacing: Pacing | null }
interface Segment { id: string; name: string; count?: number }
interface Metrics { counts: Record<string, number>; rates: Record<string, number | null> }
interface Recipient { contact_id: string; contact_name?: string | null; status: RecipientStatus; reason: string | null }

export function Campaigns({ session }: { session: Session }) {
  return (
    <Routes>
      <Route index element={<CampaignList session={session} />} />
      <Route path="new" element={<NewCampaign session={session} />} />
      <Route path=":id" element={<CampaignView session={session} />} />
    </Routes>
  );
}

function CampaignList({ session }: { session: Session }) {
  const { t } = useTranslation();
  const [items, setItems] = useState<Campaign[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<Page<Campaign>>("/campaigns?limit=100").then((p) => setItems(p.items), (e) => setError(problemText(e)));
  }, []);
  return (
    <section className="page" aria-label={t("campaigns.title")}>
      <header className="page-header">
        <h1>{t("campaigns.title")}</h1>
        {canWrite(session.role) && <Link className="button" to="/campaigns/new">{t("campaigns.new")}</Link>}
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      {items === null ? <p className="muted">{t("common.loading")}</p> : items.length === 0 ? <p className="muted">{t("campaigns.none")}</p> : (
        <table className="table">
          <thead><tr><th>{t("common.name")}</th><th>{t("common.status")}</th><th>{t("common.created")}</th></tr></thead>
          <tbody>{items.map((c) => (
            <tr key={c.id}><td><Link to={`/campaigns/${c.id}`}>{c.name}</Link></td><td>{t(`campaigns.statuses.${c.status}`)}</td><td>{dateTime(c.created_at)}</td></tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}

/** How campaign messages leave a channel: a WhatsApp number driven through WAHA is a personal
 * account, which WhatsApp bans for bulk sending, so it is paced (admins can change the pace). */
function PacingPanel({ channel, reach, admin, onSaved }: { channel: Channel; reach: number; admin: boolean; onSaved: (c: Channel) => void }) {
  const { t } = useTranslation();
  const pacing = channel.campaign_pacing;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState({ min: "", max: "", cap: "", typing: true });
  const [error, setError] = useState<string | null>(null);
  if (!pacing) return <p className="muted" data-testid="pacing">{t("pacing.providerLimits")}</p>;
  const days = pacing.daily_cap ? Math.ceil(reach / pacing.daily_cap) : 1;
  const minutes = Math.round((reach * (pacing.min_interval_secs + pacing.max_interval_secs)) / 2 / 60);
  const edit = () => {
    setDraft({ min: String(pacing.min_interval_secs), max: String(pacing.max_interval_secs), cap: pacing.daily_cap === null ? "" : String(pacing.daily_cap), typing: pacing.typing });
    setEditing(true);
  };
  const save = async () => {
    setError(null);
    const campaign_pacing = { min_interval_secs: Number(draft.min), max_interval_secs: Number(draft.max), daily_cap: draft.cap.trim() === "" ? null : Number(draft.cap), typing: draft.typing };
    try {
      onSaved(await api<Channel>("PATCH", `/channels/${channel.id}`, { settings: { ...channel.settings, campaign_pacing } }));
      setEditing(false);
    } catch (err) {
      setError(problemText(err));
    }
  };
  return (
    <div className="panel" data-testid="pacing" aria-label={t("pacing.label")}>
      <p>
        <strong>{t("pacing.lead")}</strong> {t("pacing.every", { min: pacing.min_interval_secs, max: pacing.max_interval_secs })}
        {pacing.daily_cap !== null ? t("pacing.cap", { cap: number(pacing.daily_cap) }) : t("pacing.noCap")}
        {pacing.typing ? t("pacing.typing") : t("pacing.noTyping")}
        {reach > 0 && t(days > 1 ? "pacing.estimateDays" : "pacing.estimate", {
          reach: number(reach), days,
          duration: minutes < 90 ? t("pacing.minutes", { count: minutes }) : t("pacing.hours", { count: Math.round(minutes / 60) }),
        })}
      </p>
      {channel.kind === "waha" && <p className="muted">{t("pacing.whatsappBans")}</p>}
      {pacing.clock?.day && (
        <p className="muted">
          {pacing.daily_cap !== null
            ? t("pacing.reservedOf", { day: pacing.clock.day, count: pacing.clock.reserved_on_day, cap: pacing.daily_cap })
            : t("pacing.reserved", { day: pacing.clock.day, count: pacing.clock.reserved_on_day })}
        </p>
      )}
      {admin && !editing && <button type="button" onClick={edit}>{t("pacing.change")}</button>}
      {editing && (
        // Not a <form>: the panel sits inside the new-campaign form, and forms do not nest.
        <div role="group" aria-label={t("pacing.settings")}>
          <label>{t("pacing.min")}<input type="number" min={0} max={3600} required value={draft.min} onChange={(e) => setDraft({ ...draft, min: e.target.value })} /></label>
          <label>{t("pacing.max")}<input type="number" min={0} max={3600} required value={draft.max} onChange={(e) => setDraft({ ...draft, max: e.target.value })} /></label>
          <label>{t("pacing.perDay")}<input type="number" min={1} value={draft.cap} onChange={(e) => setDraft({ ...draft, cap: e.target.value })} /></label>
          <label className="check"><input type="checkbox" checked={draft.typing} onChange={(e) => setDraft({ ...draft, typing: e.target.checked })} /> {t("pacing.showTyping")}</label>
          {error && <p role="alert" className="error">{error}</p>}
          <button type="button" onClick={() => void save()}>{t("common.save")}</button> <button type="button" onClick={() => setEditing(false)}>{t("common.cancel")}</button>
        </div>
      )}
    </div>
  );
}

function NewCampaign({ session }: { session: Session }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [channels, setChannels] = useState<Channel[]>([]);
  const [segments, setSegments] = useState<Segment[]>([]);
  const [form, setForm] = useState({ name: "", channel_id: "", segment_id: "", objective: "", when: "now", at: "", start: "09:00", end: "18:00", time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const failed = (e: unknown) => setError(problemText(e));
    get<Page<Channel>>("/channels").then((p) => { setChannels(p.items); setForm((f) => ({ ...f, channel_id: f.channel_id || p.items[0]?.id || "" })); }, failed);
    get<Page<Segment>>("/segments").then((p) => { setSegments(p.items); setForm((f) => ({ ...f, segment_id: f.segment_id || p.items[0]?.id || "" })); }, failed);
  }, []);
  const segment = segments.find((s) => s.id === form.segment_id);
  const channel = channels.find((c) => c.id === form.channel_id);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const schedule = form.when === "now" ? { kind: "now" } : { kind: "once", at: new Date(form.at).toISOString() };
      const created = await post<Campaign>("/campaigns", {
        name: form.name, channel_id: form.channel_id, segment_id: form.segment_id, objective: form.objective, schedule,
        send_window: { start: form.start, end: form.end }, time_zone: form.time_zone,
      });
      await post(`/campaigns/${created.id}/schedule`);
      void navigate(`/campaigns/${created.id}`);
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="page form" onSubmit={(e) => void submit(e)} aria-label={t("campaigns.new")}>
      <h1>{t("campaigns.new")}</h1>
      <label>{t("campaigns.name")}<input required value={form.name} onChange={set("name")} /></label>
      <label>{t("campaigns.channel")}
        <select value={form.channel_id} onChange={set("channel_id")}>{channels.map((c) => <option key={c.id} value={c.id}>{c.name} ({channelLabel(c.kind)})</option>)}</select>
      </label>
      <label>{t("campaigns.segment")}
        <select value={form.segment_id} onChange={set("segment_id")}>{segments.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select>
      </label>
      {segment && <p className="muted" data-testid="segment-count">{t("campaigns.inSegment", { count: number(segment.count ?? 0) })}</p>}
      {channel && <PacingPanel channel={channel} reach={segment?.count ?? 0} admin={session.role === "admin"} onSaved={(c) => setChannels(channels.map((x) => (x.id === c.id ? c : x)))} />}
      <label>{t("campaigns.brief")}<textarea required rows={3} value={form.objective} onChange={set("objective")} placeholder={t("campaigns.briefPlaceholder")} /></label>
      <fieldset>
        <legend>{t("campaigns.when")}</legend>
        <label className="check"><input type="radio" name="when" value="now" checked={form.when === "now"} onChange={set("when")} /> {t("campaigns.now")}</label>
        <label className="check"><input type="radio" name="when" value="once" checked={form.when === "once"} onChange={set("when")} /> {t("campaigns.at")}</label>
        {form.when === "once" && <input type="datetime-local" aria-label={t("campaigns.sendAt")} required value={form.at} onChange={set("at")} />}
      </fieldset>
      <fieldset>
        <legend>{t("campaigns.window", { zone: form.time_zone })}</legend>
        <input type="time" aria-label={t("campaigns.opens")} value={form.start} onChange={set("start")} />
        <input type="time" aria-label={t("campaigns.closes")} value={form.end} onChange={set("end")} />
      </fieldset>
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit" disabled={busy}>{busy ? t("campaigns.starting") : t("campaigns.create")}</button>
    </form>
  );
}

const FUNNEL = ["targeted", "skipped", "sent", "delivered", "read", "replied", "failed"] as const;

function CampaignView({ session }: { session: Session }) {
  const { t } = useTranslation();
  const { id } = useParams();
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [metrics, setMetrics] = useState<Metrics | null>(null);
  const [recipients, setRecipients] = useState<Recipient[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setCampaign(await get<Campaign>(`/campaigns/${id}`));
      setMetrics(await get<Metrics>(`/campaigns/${id}/metrics`));
      setRecipients((await get<Page<Recipient>>(`/campaigns/${id}/recipients?limit=200`)).items);
    } catch (e) {
      setError(problemText(e));
    }
  }, [id]);
  useEffect(() => void load(), [load]);
  useLiveEvents((e) => {
    if (e.type.startsWith("campaign.") || e.type.startsWith("message.status")) void load();
  });
  const act = async (what: string) => {
    try {
      await post(`/campaigns/${id}/${what}`);
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };
  if (!campaign) return error ? <p role="alert" className="error page">{error}</p> : <p className="muted page">{t("common.loading")}</p>;
  const funnel = FUNNEL.map((k) => ({ stage: t(`dashboard.stages.${k}`), count: metrics?.counts[k] ?? 0 }));
  const writable = canWrite(session.role);
  return (
    <section className="page" aria-label={t("campaigns.label", { name: campaign.name })}>
      <header className="page-header">
        <h1>{campaign.name}</h1>
        <span className="badge" data-testid="campaign-status" data-status={campaign.status}>{t(`campaigns.statuses.${campaign.status}`)}</span>
        {writable && campaign.status === "running" && <button type="button" onClick={() => void act("pause")}>{t("campaigns.pause")}</button>}
        {writable && campaign.status === "paused" && <button type="button" onClick={() => void act("resume")}>{t("campaigns.resume")}</button>}
        {writable && ["scheduled", "running", "paused"].includes(campaign.status) && <button type="button" onClick={() => void act("cancel")}>{t("campaigns.cancel")}</button>}
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      <p className="muted">{campaign.objective}</p>
      <div className="chart" role="figure" aria-label={t("campaigns.funnel")}>
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={funnel}><CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="stage" /><YAxis allowDecimals={false} /><Tooltip /><Bar dataKey="count" fill="#2357d9" isAnimationActive={false} /></BarChart>
        </ResponsiveContainer>
      </div>
      <p data-testid="campaign-sent">{t("campaigns.sentOf", { sent: number(metrics?.counts.sent ?? 0), targeted: number(metrics?.counts.targeted ?? 0) })}</p>
      <table className="table">
        <thead><tr><th>{t("common.contact")}</th><th>{t("common.status")}</th><th>{t("common.reason")}</th></tr></thead>
        <tbody>{recipients.map((r) => (
          <tr key={r.contact_id} data-testid="recipient"><td><Link to={`/contacts/${r.contact_id}`}>{r.contact_name ?? r.contact_id.slice(0, 8)}</Link></td><td data-status={r.status}>{t(`campaigns.recipientStatuses.${r.status}`)}</td><td>{r.reason ?? ""}</td></tr>
        ))}</tbody>
      </table>
    </section>
  );
}

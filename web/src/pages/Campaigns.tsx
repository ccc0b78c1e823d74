// Campaigns: list; create (campaigns/NewCampaign.tsx); a campaign's live progress, per-recipient
// statuses and funnel chart.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, Route, Routes, useParams } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { canWrite, get, type Page, post, problemText, type Session } from "../api";
import { dateTime, number } from "../format";
import type { CampaignStatus, RecipientStatus } from "../types";
import { useLiveEvents } from "../live";
import { NewCampaign } from "./campaigns/NewCampaign";

interface Campaign { id: string; name: string; status: CampaignStatus; channel_id: string; segment_id: string; objective: string; created_at: string }
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
  const list = useQuery({ queryKey: ["campaigns"], queryFn: () => get<Page<Campaign>>("/campaigns?limit=100") });
  const items = list.data?.items ?? null;
  const error = list.error ? problemText(list.error) : null;
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

const FUNNEL = ["targeted", "skipped", "sent", "delivered", "read", "replied", "failed"] as const;

function CampaignView({ session }: { session: Session }) {
  const { t } = useTranslation();
  const { id } = useParams();
  const queries = useQueryClient();
  const [failed, setError] = useState<string | null>(null);
  const view = useQuery({
    queryKey: ["campaigns", id],
    queryFn: async () => {
      const [campaign, metrics, recipients] = await Promise.all([
        get<Campaign>(`/campaigns/${id}`),
        get<Metrics>(`/campaigns/${id}/metrics`),
        get<Page<Recipient>>(`/campaigns/${id}/recipients?limit=200`),
      ]);
      return { campaign, metrics, recipients: recipients.items };
    },
  });
  const load = useCallback(() => queries.invalidateQueries({ queryKey: ["campaigns", id] }), [queries, id]);
  const campaign = view.data?.campaign ?? null;
  const metrics = view.data?.metrics ?? null;
  const recipients = view.data?.recipients ?? [];
  const error = failed ?? (view.error ? problemText(view.error) : null);
  useLiveEvents((e) => {
    if (e.type.startsWith("campaign.") || e.type.startsWith("message.status")) void load();
  });
  const act = async (what: string) => {
    try {
      await post(`/campaigns/${id}/${what}`);
      setError(null);
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

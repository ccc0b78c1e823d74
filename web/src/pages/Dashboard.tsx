// The dashboard: the API's named reports as charts.
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { post, problemText } from "../api";
import { channelLabel, number, originLabel, percent } from "../format";

type Row = Record<string, string | number | null>;
interface Report { rows: Row[] }
const COLORS = ["#2357d9", "#1d9bf0", "#f59e0b", "#10b981", "#c62828", "#8b5cf6"];

function useReport(name: string, params: Record<string, unknown> = {}) {
  const report = useQuery({ queryKey: ["report", name, params], queryFn: () => post<Report>(`/reports/${name}`, { params }) });
  const rows: Row[] | null = report.data?.rows ?? null;
  return { rows, error: report.error ? problemText(report.error) : null };
}

function Panel({ title, error, children }: { title: string; error: string | null; children: React.ReactNode }) {
  return (
    <section className="panel" aria-label={title}>
      <h2>{title}</h2>
      {error ? <p role="alert" className="error">{error}</p> : children}
    </section>
  );
}

const FUNNEL = ["targeted", "sent", "delivered", "read", "replied"] as const;

export function Dashboard() {
  const { t } = useTranslation();
  const messages = useReport("messages_over_time", { bucket: "day" });
  const delivery = useReport("delivery_rates");
  const times = useReport("response_times");
  const intents = useReport("intents");
  const share = useReport("handling_share");
  const funnel = useReport("campaign_funnel");
  const rt = times.rows?.[0];
  const seconds = (v: unknown) => (typeof v === "number" ? t("dashboard.seconds", { value: number(v) }) : "—");
  return (
    <div className="page dashboard">
      <h1>{t("dashboard.title")}</h1>
      <div className="panels">
        <Panel title={t("dashboard.messages")} error={messages.error}>
          <ResponsiveContainer width="100%" height={220}>
            <LineChart data={(messages.rows ?? []).map((r) => ({ ...r, day: String(r.bucket).slice(0, 10) }))}>
              <CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="day" /><YAxis allowDecimals={false} /><Tooltip /><Legend />
              <Line dataKey="inbound" name={t("dashboard.inbound")} stroke={COLORS[0]} isAnimationActive={false} /><Line dataKey="outbound" name={t("dashboard.outbound")} stroke={COLORS[3]} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title={t("dashboard.responseTimes")} error={times.error}>
          <dl className="figures">
            <div><dt>{t("dashboard.firstMedian")}</dt><dd>{seconds(rt?.first_response_p50_s)}</dd></div>
            <div><dt>{t("dashboard.firstP90")}</dt><dd>{seconds(rt?.first_response_p90_s)}</dd></div>
            <div><dt>{t("dashboard.resolutionMedian")}</dt><dd>{seconds(rt?.resolution_p50_s)}</dd></div>
            <div><dt>{t("dashboard.conversations")}</dt><dd>{typeof rt?.conversations === "number" ? number(rt.conversations) : "—"}</dd></div>
          </dl>
        </Panel>
        <Panel title={t("dashboard.delivery")} error={delivery.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={(delivery.rows ?? []).map((r) => ({ ...r, channel: `${r.name} (${channelLabel(String(r.kind))})` }))}>
              <CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="channel" /><YAxis domain={[0, 1]} tickFormatter={(v: number) => percent(v)} /><Tooltip formatter={(v) => (typeof v === "number" ? percent(v) : String(v))} /><Legend />
              <Bar dataKey="delivery_rate" name={t("dashboard.delivered")} fill={COLORS[0]} isAnimationActive={false} /><Bar dataKey="read_rate" name={t("dashboard.read")} fill={COLORS[1]} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title={t("dashboard.intents")} error={intents.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={intents.rows ?? []} layout="vertical"><XAxis type="number" allowDecimals={false} /><YAxis type="category" dataKey="intent" width={120} /><Tooltip /><Bar dataKey="runs" name={t("dashboard.runs")} fill={COLORS[2]} isAnimationActive={false} /></BarChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title={t("dashboard.share")} error={share.error}>
          <ResponsiveContainer width="100%" height={220}>
            <PieChart>
              <Pie data={(share.rows ?? []).filter((r) => r.kind === "message").map((r) => ({ ...r, handled_by: originLabel(String(r.handled_by)) }))} dataKey="count" nameKey="handled_by" outerRadius={80} label isAnimationActive={false}>
                {(share.rows ?? []).map((_, i) => <Cell key={i} fill={COLORS[i % COLORS.length]} />)}
              </Pie>
              <Tooltip /><Legend />
            </PieChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title={t("dashboard.funnel")} error={funnel.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={funnel.rows ?? []}><CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="name" /><YAxis allowDecimals={false} /><Tooltip /><Legend />
              {FUNNEL.map((k, i) => <Bar key={k} dataKey={k} name={t(`dashboard.stages.${k}`)} fill={COLORS[i]} isAnimationActive={false} />)}
            </BarChart>
          </ResponsiveContainer>
        </Panel>
      </div>
    </div>
  );
}

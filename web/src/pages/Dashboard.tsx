// The dashboard: the API's named reports as charts.
import { useEffect, useState } from "react";
import { Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { post } from "../api";
import { channelLabel } from "../format";

type Row = Record<string, string | number | null>;
interface Report { rows: Row[] }
const COLORS = ["#2357d9", "#1d9bf0", "#f59e0b", "#10b981", "#c62828", "#8b5cf6"];

function useReport(name: string, params: Record<string, unknown> = {}) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const key = JSON.stringify(params);
  useEffect(() => {
    post<Report>(`/reports/${name}`, { params: JSON.parse(key) as Record<string, unknown> }).then((r) => setRows(r.rows), (e) => setError(String(e)));
  }, [name, key]);
  return { rows, error };
}

function Panel({ title, error, children }: { title: string; error: string | null; children: React.ReactNode }) {
  return (
    <section className="panel" aria-label={title}>
      <h2>{title}</h2>
      {error ? <p role="alert" className="error">{error}</p> : children}
    </section>
  );
}

export function Dashboard() {
  const messages = useReport("messages_over_time", { bucket: "day" });
  const delivery = useReport("delivery_rates");
  const times = useReport("response_times");
  const intents = useReport("intents");
  const share = useReport("handling_share");
  const funnel = useReport("campaign_funnel");
  const t = times.rows?.[0];
  const seconds = (v: unknown) => (typeof v === "number" ? `${Math.round(v)} s` : "—");
  return (
    <div className="page dashboard">
      <h1>Dashboard</h1>
      <div className="panels">
        <Panel title="Messages in and out" error={messages.error}>
          <ResponsiveContainer width="100%" height={220}>
            <LineChart data={(messages.rows ?? []).map((r) => ({ ...r, day: String(r.bucket).slice(0, 10) }))}>
              <CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="day" /><YAxis allowDecimals={false} /><Tooltip /><Legend />
              <Line dataKey="inbound" stroke={COLORS[0]} isAnimationActive={false} /><Line dataKey="outbound" stroke={COLORS[3]} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title="Response times" error={times.error}>
          <dl className="figures">
            <div><dt>First response (median)</dt><dd>{seconds(t?.first_response_p50_s)}</dd></div>
            <div><dt>First response (p90)</dt><dd>{seconds(t?.first_response_p90_s)}</dd></div>
            <div><dt>Resolution (median)</dt><dd>{seconds(t?.resolution_p50_s)}</dd></div>
            <div><dt>Conversations</dt><dd>{t?.conversations ?? "—"}</dd></div>
          </dl>
        </Panel>
        <Panel title="Delivery and read rates by channel" error={delivery.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={(delivery.rows ?? []).map((r) => ({ ...r, channel: `${r.name} (${channelLabel(String(r.kind))})` }))}>
              <CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="channel" /><YAxis domain={[0, 1]} /><Tooltip /><Legend />
              <Bar dataKey="delivery_rate" name="delivered" fill={COLORS[0]} isAnimationActive={false} /><Bar dataKey="read_rate" name="read" fill={COLORS[1]} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title="What customers want" error={intents.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={intents.rows ?? []} layout="vertical"><XAxis type="number" allowDecimals={false} /><YAxis type="category" dataKey="intent" width={120} /><Tooltip /><Bar dataKey="runs" fill={COLORS[2]} isAnimationActive={false} /></BarChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title="Who answers" error={share.error}>
          <ResponsiveContainer width="100%" height={220}>
            <PieChart>
              <Pie data={(share.rows ?? []).filter((r) => r.kind === "message")} dataKey="count" nameKey="handled_by" outerRadius={80} label isAnimationActive={false}>
                {(share.rows ?? []).map((_, i) => <Cell key={i} fill={COLORS[i % COLORS.length]} />)}
              </Pie>
              <Tooltip /><Legend />
            </PieChart>
          </ResponsiveContainer>
        </Panel>
        <Panel title="Campaign funnel" error={funnel.error}>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={funnel.rows ?? []}><CartesianGrid strokeDasharray="3 3" /><XAxis dataKey="name" /><YAxis allowDecimals={false} /><Tooltip /><Legend />
              {["targeted", "sent", "delivered", "read", "replied"].map((k, i) => <Bar key={k} dataKey={k} fill={COLORS[i]} isAnimationActive={false} />)}
            </BarChart>
          </ResponsiveContainer>
        </Panel>
      </div>
    </div>
  );
}

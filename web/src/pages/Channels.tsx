// Channels: where customers reach the business. An admin adds a WhatsApp number (a WAHA session),
// a Messenger Page or an Instagram account (NewChannel), and connects a WhatsApp number here: start
// the session, scan the QR code (renewed while WAHA waits) or use a pairing code, and watch the
// status change live; stop, restart and log out (re-pair) are buttons. Each channel shows its
// webhook setup and, for WhatsApp, how campaign messages are paced (the number's safety).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { get, type Page, post, problemText, type Session } from "../api";
import { channelLabel, when } from "../format";
import i18n from "../i18n";
import { useLiveEvents } from "../live";
import { PacingPanel } from "./campaigns/PacingPanel";
import { ChannelSettings } from "./channels/ChannelSettings";
import { NewChannel } from "./channels/NewChannel";
import { WebhookInstructions } from "./channels/WebhookInstructions";
import type { Channel } from "../types";


/** What an admin reads for each WAHA status. */
const STATUSES = ["WORKING", "SCAN_QR_CODE", "STARTING", "STOPPED", "FAILED", "UNKNOWN"] as const;

export function statusText(status: string): string {
  return (STATUSES as readonly string[]).includes(status) ? i18n.t(`channels.statuses.${status as (typeof STATUSES)[number]}`) : status;
}

export function Channels({ session }: { session: Session }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const admin = session.role === "admin";
  const fail = (e: unknown) => setError(problemText(e));
  const channels = useQuery({
    queryKey: ["channels", "with-sessions"],
    queryFn: async () => {
      const list = (await get<Page<Channel>>("/channels")).items;
      // WAHA's own word on each WhatsApp session (its session API), over the last webhook's.
      const live = await Promise.all(
        list.map((c) =>
          c.kind === "waha"
            ? get<{ provider: { status?: unknown } }>(`/channels/${c.id}/session`).then((s) => s.provider.status, () => undefined)
            : Promise.resolve(undefined),
        ),
      );
      return list.map((c, i) => (typeof live[i] === "string" ? { ...c, status: live[i] } : c));
    },
  });
  const load = useCallback(() => queries.invalidateQueries({ queryKey: ["channels"] }), [queries]);
  const items = channels.data ?? null;
  useLiveEvents((event) => {
    if (event.type === "channel.status_changed") void load();
  });

  return (
    <div className="page">
      <div className="page-header"><h1>{t("channels.title")}</h1></div>
      {(error ?? channels.error) && <p role="alert" className="error">{error ?? problemText(channels.error)}</p>}
      {items === null ? <p className="muted">{t("common.loading")}</p> : (
        <ul className="channels">
          {items.map((c) => (
            <li key={c.id} data-testid="channel">
              <strong>{c.name}</strong> <span className={`badge ${c.kind}`}>{channelLabel(c.kind)}</span>{" "}
              <span className={`channel-status ${c.status.toLowerCase()}`} data-status={c.status}>{statusText(c.status)}</span>
              {c.status_changed_at && <span className="muted">{t("channels.since", { when: when(c.status_changed_at) })}</span>}
              {admin && c.kind === "waha" && <WhatsAppConnection channel={c} onChanged={load} onError={fail} />}
              {admin && (
                <button type="button" aria-expanded={editing === c.id} aria-label={t("channelSettings.editOne", { name: c.name })}
                  onClick={() => setEditing(editing === c.id ? null : c.id)}>{t("channelSettings.edit")}</button>
              )}
              {admin && editing === c.id && <ChannelSettings channel={c} onSaved={load} />}
              {c.kind === "waha" && <PacingPanel channel={c} reach={0} admin={admin} onSaved={() => void load()} />}
              {admin && (
                <details>
                  <summary>{t("channelForm.webhookSetup")}</summary>
                  <WebhookInstructions webhook={c.webhook} />
                </details>
              )}
            </li>
          ))}
        </ul>
      )}
      {admin && <NewChannel onCreated={load} />}
    </div>
  );
}

interface Props {
  channel: Channel;
  onChanged: () => Promise<void>;
  onError: (e: unknown) => void;
}

function WhatsAppConnection({ channel, onChanged, onError }: Props) {
  const { t } = useTranslation();
  const [qr, setQr] = useState<string | null>(null);
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState<string | null>(null);
  const base = `/channels/${channel.id}/whatsapp`;
  const waiting = channel.status === "SCAN_QR_CODE";

  // The QR code while WAHA waits for a phone, fetched again as WAHA renews it.
  useEffect(() => {
    if (!waiting) {
      setQr(null);
      setCode(null);
      return;
    }
    let stop = false;
    const fetchQr = () => {
      get<{ data_url: string }>(`${base}/qr`).then((q) => !stop && setQr(q.data_url), () => !stop && setQr(null));
    };
    fetchQr();
    const timer = setInterval(fetchQr, 15_000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [base, waiting]);

  const act = async (action: string) => {
    try {
      await post(`${base}/${action}`);
      await onChanged();
    } catch (e) {
      onError(e);
    }
  };
  const askCode = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setCode((await post<{ code: string }>(`${base}/pairing-code`, { phone_number: phone })).code);
    } catch (err) {
      onError(err);
    }
  };

  return (
    <div className="whatsapp-connection" aria-label={t("channels.connect", { name: channel.name })}>
      <div className="actions">
        {channel.status !== "WORKING" && channel.status !== "SCAN_QR_CODE" && <button type="button" onClick={() => void act("start")}>{t("channels.start")}</button>}
        {channel.status !== "STOPPED" && channel.status !== "UNKNOWN" && <button type="button" onClick={() => void act("stop")}>{t("channels.stop")}</button>}
        {channel.status !== "UNKNOWN" && <button type="button" onClick={() => void act("restart")}>{t("channels.restart")}</button>}
        {channel.status === "WORKING" && <button type="button" onClick={() => void act("logout")}>{t("channels.logout")}</button>}
      </div>
      {waiting && (
        <div className="pairing">
          {qr ? <img src={qr} alt={t("channels.qrAlt")} width={256} height={256} /> : <p className="muted">{t("channels.qrLoading")}</p>}
          <p className="muted">{t("channels.howTo")}</p>
          <form onSubmit={(e) => void askCode(e)}>
            <label>{t("channels.orPhone")}<input value={phone} onChange={(e) => setPhone(e.target.value)} placeholder="+55 11 98765-4321" /></label>
            <button type="submit" disabled={!phone.trim()}>{t("channels.getCode")}</button>
          </form>
          {code && <p>{t("channels.typeCode")} <strong data-testid="pairing-code">{code}</strong></p>}
        </div>
      )}
    </div>
  );
}

// Channels: where customers reach the business. An admin adds a WhatsApp number (a WAHA session)
// and connects it here: start the session, scan the QR code (renewed while WAHA waits) or use a
// pairing code, and watch the status change live; stop, restart and log out (re-pair) are buttons.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { ApiError, get, post, type Page, type Session } from "../api";
import { channelLabel, when } from "../format";
import { useLiveEvents } from "../live";

interface Channel {
  id: string;
  name: string;
  kind: string;
  status: string;
  status_changed_at: string | null;
}

/** What an admin reads for each WAHA status. */
export function statusText(status: string): string {
  return (
    {
      WORKING: "Connected",
      SCAN_QR_CODE: "Waiting for a phone: scan the QR code",
      STARTING: "Starting…",
      STOPPED: "Stopped",
      FAILED: "Failed: restart it, or log out and pair again",
      UNKNOWN: "Not started yet",
    }[status] ?? status
  );
}

/** A fresh webhook signing key: Ventros gives it to WAHA when it starts the session. */
function signingKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const empty = () => ({ name: "", base_url: "", api_key: "", session: "default", hmac_key: signingKey() });

export function Channels({ session }: { session: Session }) {
  const [items, setItems] = useState<Channel[] | null>(null);
  const [form, setForm] = useState(empty);
  const [error, setError] = useState<string | null>(null);
  const admin = session.role === "admin";
  const fail = (e: unknown) => setError(e instanceof ApiError ? e.detail || e.title : String(e));

  const load = useCallback(async () => {
    try {
      const channels = (await get<Page<Channel>>("/channels")).items;
      // WAHA's own word on each WhatsApp session (its session API), over the last webhook's.
      const live = await Promise.all(
        channels.map((c) =>
          c.kind === "waha"
            ? get<{ provider: { status?: unknown } }>(`/channels/${c.id}/session`).then((s) => s.provider.status, () => undefined)
            : Promise.resolve(undefined),
        ),
      );
      setItems(channels.map((c, i) => (typeof live[i] === "string" ? { ...c, status: live[i] } : c)));
    } catch (e) {
      fail(e);
    }
  }, []);
  useEffect(() => void load(), [load]);
  useLiveEvents((event) => {
    if (event.type === "channel.status_changed") void load();
  });

  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const provider_config = { base_url: form.base_url, api_key: form.api_key, session: form.session, hmac_key: form.hmac_key };
      await post("/channels", { name: form.name, kind: "waha", provider_config });
      setForm(empty());
      setError(null);
      await load();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <div className="page">
      <div className="page-header"><h1>Channels</h1></div>
      {error && <p role="alert" className="error">{error}</p>}
      {items === null ? <p className="muted">Loading…</p> : (
        <ul className="channels">
          {items.map((c) => (
            <li key={c.id} data-testid="channel">
              <strong>{c.name}</strong> <span className={`badge ${c.kind}`}>{channelLabel(c.kind)}</span>{" "}
              <span className={`channel-status ${c.status.toLowerCase()}`} data-status={c.status}>{statusText(c.status)}</span>
              {c.status_changed_at && <span className="muted"> · since {when(c.status_changed_at)}</span>}
              {admin && c.kind === "waha" && <WhatsAppConnection channel={c} onChanged={load} onError={fail} />}
            </li>
          ))}
        </ul>
      )}
      {admin && (
        <form className="panel stack" onSubmit={(e) => void create(e)} aria-label="Add a WhatsApp number">
          <h2>Add a WhatsApp number</h2>
          <label>Name<input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required /></label>
          <label>WAHA address<input type="url" value={form.base_url} placeholder="https://waha.example.com" onChange={(e) => setForm({ ...form, base_url: e.target.value })} required /></label>
          <label>WAHA API key<input type="password" value={form.api_key} onChange={(e) => setForm({ ...form, api_key: e.target.value })} required /></label>
          <label>Session name<input value={form.session} onChange={(e) => setForm({ ...form, session: e.target.value })} required /></label>
          <label>Webhook signing key (WAHA signs its webhooks with it; generated, at least 16 characters)
            <input value={form.hmac_key} minLength={16} onChange={(e) => setForm({ ...form, hmac_key: e.target.value })} required />
          </label>
          <button type="submit">Add WhatsApp number</button>
        </form>
      )}
    </div>
  );
}

interface Props {
  channel: Channel;
  onChanged: () => Promise<void>;
  onError: (e: unknown) => void;
}

function WhatsAppConnection({ channel, onChanged, onError }: Props) {
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
    <div className="whatsapp-connection" aria-label={`Connect ${channel.name}`}>
      <div className="actions">
        {channel.status !== "WORKING" && channel.status !== "SCAN_QR_CODE" && <button type="button" onClick={() => void act("start")}>Start session</button>}
        {channel.status !== "STOPPED" && channel.status !== "UNKNOWN" && <button type="button" onClick={() => void act("stop")}>Stop</button>}
        {channel.status !== "UNKNOWN" && <button type="button" onClick={() => void act("restart")}>Restart</button>}
        {channel.status === "WORKING" && <button type="button" onClick={() => void act("logout")}>Log out (pair again)</button>}
      </div>
      {waiting && (
        <div className="pairing">
          {qr ? <img src={qr} alt="QR code to scan with WhatsApp" width={256} height={256} /> : <p className="muted">Loading the QR code…</p>}
          <p className="muted">On the phone: WhatsApp → Settings → Linked devices → Link a device, then scan.</p>
          <form onSubmit={(e) => void askCode(e)}>
            <label>Or link with the phone number<input value={phone} onChange={(e) => setPhone(e.target.value)} placeholder="+55 11 98765-4321" /></label>
            <button type="submit" disabled={!phone.trim()}>Get a pairing code</button>
          </form>
          {code && <p>Type this code on the phone: <strong data-testid="pairing-code">{code}</strong></p>}
        </div>
      )}
    </div>
  );
}

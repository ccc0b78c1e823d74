// Adding a channel (admin): a WhatsApp number through WAHA, a Facebook Page (Messenger) or an
// Instagram professional account. The form checks what the API will check (schemas.ts) beside each
// field before sending; once created, it shows what to paste into WAHA or Meta's App Dashboard.
import { useMutation } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { post, problemText } from "../../api";
import { channelLabel } from "../../format";
import { channelName, type Invalid, metaConfig, problems, wahaConfig } from "./schemas";
import type { Channel } from "../../types";
import { WebhookInstructions } from "./WebhookInstructions";

type Kind = "waha" | "messenger" | "instagram";
const KINDS: Kind[] = ["waha", "messenger", "instagram"];

/** A fresh random secret (WAHA's signing key, Meta's Verify Token): the admin copies it over. */
function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const empty = () => ({
  name: "", base_url: "", api_key: "", session: "default", hmac_key: randomSecret(),
  page_id: "", access_token: "", app_secret: "", verify_token: randomSecret(), graph_base_url: "https://graph.facebook.com", api_version: "v21.0",
});
type Form = ReturnType<typeof empty>;


export function NewChannel({ onCreated }: { onCreated: () => Promise<void> }) {
  const { t } = useTranslation();
  const [kind, setKind] = useState<Kind>("waha");
  const [form, setForm] = useState<Form>(empty);
  const [invalid, setInvalid] = useState<Partial<Record<string, Invalid>>>({});
  const [created, setCreated] = useState<{ channel: Channel; verifyToken?: string } | null>(null);
  const create = useMutation({
    mutationFn: (body: unknown) => post<Channel>("/channels", body),
    onSuccess: async (channel, body) => {
      const token = (body as { provider_config: { verify_token?: string } }).provider_config.verify_token;
      setCreated({ channel, verifyToken: token });
      setForm(empty());
      await onCreated();
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const config = kind === "waha"
      ? wahaConfig.safeParse({ base_url: form.base_url, api_key: form.api_key, session: form.session, hmac_key: form.hmac_key })
      : metaConfig.safeParse({ page_id: form.page_id.trim(), access_token: form.access_token, app_secret: form.app_secret, verify_token: form.verify_token, graph_base_url: form.graph_base_url, api_version: form.api_version });
    const name = channelName.safeParse(form.name);
    const found = { ...problems(config), ...(name.success ? {} : { name: "name" as const }) };
    setInvalid(found);
    if (!config.success || !name.success) return;
    setCreated(null);
    create.mutate({ name: name.data, kind, provider_config: config.data });
  };

  const input = (key: keyof Form) => ({
    value: form[key], invalid: invalid[key], onChange: (value: string) => setForm({ ...form, [key]: value }),
  });

  return (
    <form className="panel stack" onSubmit={submit} aria-label={t("channelForm.add")} noValidate>
      <h2>{t("channelForm.add")}</h2>
      <fieldset>
        <legend>{t("channelForm.kind")}</legend>
        {KINDS.map((k) => (
          <label key={k} className="check">
            <input type="radio" name="kind" value={k} checked={kind === k} onChange={() => { setKind(k); setInvalid({}); }} /> {channelLabel(k)}
          </label>
        ))}
      </fieldset>
      <Field label={t("channels.name")} name="name" bind={input} />
      {kind === "waha" ? (
        <>
          <Field label={t("channels.wahaAddress")} type="url" placeholder="https://waha.example.com" name="base_url" bind={input} />
          <Field label={t("channels.wahaKey")} type="password" name="api_key" bind={input} />
          <Field label={t("channels.session")} name="session" bind={input} />
          <Field label={t("channels.signingKey")} name="hmac_key" bind={input} />
        </>
      ) : (
        <>
          <Field label={kind === "messenger" ? t("channelForm.pageId") : t("channelForm.instagramId")} hint={t("channelForm.pageIdHint")} name="page_id" bind={input} />
          <Field label={kind === "messenger" ? t("channelForm.pageToken") : t("channelForm.instagramToken")} type="password" name="access_token" bind={input} />
          <Field label={t("channelForm.appSecret")} type="password" hint={t("channelForm.appSecretHint")} name="app_secret" bind={input} />
          <Field label={t("channelForm.verifyToken")} hint={t("channelForm.verifyTokenHint")} name="verify_token" bind={input} />
          <Field label={t("channelForm.graphUrl")} type="url" hint={kind === "instagram" ? t("channelForm.graphUrlInstagram") : undefined} name="graph_base_url" bind={input} />
          <Field label={t("channelForm.apiVersion")} name="api_version" bind={input} />
        </>
      )}
      {create.isError && <p role="alert" className="error">{problemText(create.error)}</p>}
      <button type="submit" disabled={create.isPending}>{t("channelForm.addButton", { kind: channelLabel(kind) })}</button>
      {created && (
        <div role="status" className="panel">
          <p><strong>{t("channelForm.created", { name: created.channel.name })}</strong></p>
          <WebhookInstructions webhook={created.channel.webhook} verifyToken={created.verifyToken} />
        </div>
      )}
    </form>
  );
}

/** A labelled input with its hint and, when the value breaks a rule, the rule beside it (outside
 * the label, so the field's name stays its label; tied to the input by `aria-describedby`). */
function Field({ label, name, bind, hint, type = "text", placeholder }: {
  label: string; name: keyof Form; bind: (key: keyof Form) => { value: string; invalid?: Invalid; onChange: (value: string) => void };
  hint?: ReactNode; type?: "text" | "url" | "password"; placeholder?: string;
}) {
  const { t } = useTranslation();
  const { value, invalid, onChange } = bind(name);
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : "", invalid ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} type={type} value={value} placeholder={placeholder} aria-invalid={invalid ? true : undefined} aria-describedby={describedBy}
        onChange={(e) => onChange(e.target.value)} />
      {hint && <span id={`${id}-hint`} className="muted hint">{hint}</span>}
      {invalid && <span id={`${id}-error`} className="error field-error">{t(`channelForm.invalid.${invalid}`)}</span>}
    </div>
  );
}

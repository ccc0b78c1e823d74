// How campaign messages leave a channel, shown in the new-campaign form: the pace, the daily cap,
// how long the segment takes; admins change the pace here.
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, problemText } from "../../api";
import { number } from "../../format";
import { campaignPacing, problems } from "../channels/schemas";

import type { Channel } from "../../types";

/** How campaign messages leave a channel: a WhatsApp number driven through WAHA is a personal
 * account, which WhatsApp bans for bulk sending, so it is paced (admins can change the pace). */
export function PacingPanel({ channel, reach, admin, onSaved }: { channel: Channel; reach: number; admin: boolean; onSaved: (c: Channel) => void }) {
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
    const checked = campaignPacing.safeParse({ min_interval_secs: Number(draft.min), max_interval_secs: Number(draft.max), daily_cap: draft.cap.trim() === "" ? null : Number(draft.cap), typing: draft.typing });
    if (!checked.success) {
      // The same rules the API applies, said before anything is sent.
      const found = Object.values(problems(checked))[0];
      if (found) setError(t(`channelForm.invalid.${found}`));
      return;
    }
    const campaign_pacing = checked.data;
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

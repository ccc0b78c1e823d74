// A channel's replies, edited by an admin: the AI agent (which one, the confidence under which a
// human takes over, "typing…"), greeting and away messages per language (each customer gets theirs),
// and business hours (open windows by weekday in a UTC offset; none = always open). Other settings
// (timing, campaign pacing) are kept as they are.
import { useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, problemText } from "../../api";
import { weekday } from "../../format";

type Localized = string | Record<string, string> | null | undefined;
interface Window { days: number[]; start: string; end: string }
interface Settings {
  ai?: { agent_type: string; confidence_threshold: number; presence: boolean } | null;
  greeting?: Localized;
  away_message?: Localized;
  business_hours?: { utc_offset_minutes: number; windows: Window[] } | null;
  [other: string]: unknown;
}
export interface ChannelWithSettings { id: string; name: string; settings: Settings }

const LANGUAGES = ["pt", "en", "es"] as const;
type Texts = Record<(typeof LANGUAGES)[number], string>;
const DAYS = [1, 2, 3, 4, 5, 6, 7];
/** UTC offsets in 30-minute steps from −12:00 to +14:00. */
const OFFSETS = Array.from({ length: 53 }, (_, i) => -720 + i * 30);

function texts(value: Localized): Texts {
  if (typeof value === "string") return { pt: value, en: value, es: value };
  return { pt: value?.pt ?? "", en: value?.en ?? "", es: value?.es ?? "" };
}

/** The languages given, or nothing at all (the rule is off). */
function localized(value: Texts): Record<string, string> | null {
  const given = Object.entries(value).filter(([, text]) => text.trim() !== "");
  return given.length > 0 ? Object.fromEntries(given) : null;
}

function offsetLabel(minutes: number): string {
  const sign = minutes < 0 ? "−" : "+";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

export function ChannelSettings({ channel, onSaved }: { channel: ChannelWithSettings; onSaved: () => Promise<void> }) {
  const { t } = useTranslation();
  const agents = useQuery({ queryKey: ["agents"], queryFn: () => get<{ items: { type: string; name: string }[] }>("/agents") });
  const s = channel.settings;
  const [ai, setAi] = useState({ on: !!s.ai, agent_type: s.ai?.agent_type ?? "RouterAgent", threshold: String(s.ai?.confidence_threshold ?? 0.45), presence: s.ai?.presence ?? true });
  const [greeting, setGreeting] = useState(texts(s.greeting));
  const [away, setAway] = useState(texts(s.away_message));
  const [alwaysOpen, setAlwaysOpen] = useState(!s.business_hours);
  const [offset, setOffset] = useState(s.business_hours?.utc_offset_minutes ?? -180);
  const [windows, setWindows] = useState<Window[]>(s.business_hours?.windows ?? [{ days: [1, 2, 3, 4, 5], start: "09:00", end: "18:00" }]);
  const save = useMutation({
    mutationFn: () => api("PATCH", `/channels/${channel.id}`, {
      settings: {
        ...s,
        ai: ai.on ? { agent_type: ai.agent_type, confidence_threshold: Number(ai.threshold), presence: ai.presence } : null,
        greeting: localized(greeting),
        away_message: localized(away),
        business_hours: alwaysOpen ? null : { utc_offset_minutes: offset, windows },
      },
    }),
    onSuccess: onSaved,
  });
  const setWindow = (i: number, w: Partial<Window>) => setWindows(windows.map((x, j) => (j === i ? { ...x, ...w } : x)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const agentOptions = agents.data?.items ?? [{ type: ai.agent_type, name: ai.agent_type }];
  return (
    <form className="stack channel-settings" onSubmit={submit} aria-label={t("channelSettings.title", { name: channel.name })}>
      <h3>{t("channelSettings.title", { name: channel.name })}</h3>
      <fieldset>
        <legend>{t("channelSettings.ai")}</legend>
        <label className="check"><input type="checkbox" checked={ai.on} onChange={(e) => setAi({ ...ai, on: e.target.checked })} /> {t("channelSettings.aiOn")}</label>
        {ai.on && (
          <>
            <label>{t("channelSettings.agent")}
              <select value={ai.agent_type} onChange={(e) => setAi({ ...ai, agent_type: e.target.value })}>
                {agentOptions.map((a) => <option key={a.type} value={a.type}>{a.name}</option>)}
              </select>
            </label>
            <label>{t("channelSettings.threshold")}
              <input type="number" min={0} max={1} step={0.05} required value={ai.threshold} onChange={(e) => setAi({ ...ai, threshold: e.target.value })} />
            </label>
            <label className="check"><input type="checkbox" checked={ai.presence} onChange={(e) => setAi({ ...ai, presence: e.target.checked })} /> {t("channelSettings.presence")}</label>
          </>
        )}
      </fieldset>
      <PerLanguage kind="greeting" value={greeting} onChange={setGreeting} />
      <PerLanguage kind="away" value={away} onChange={setAway} />
      <fieldset>
        <legend>{t("channelSettings.hours")}</legend>
        <label className="check"><input type="checkbox" checked={alwaysOpen} onChange={(e) => setAlwaysOpen(e.target.checked)} /> {t("channelSettings.alwaysOpen")}</label>
        {!alwaysOpen && (
          <>
            <label>{t("channelSettings.offset")}
              <select value={offset} onChange={(e) => setOffset(Number(e.target.value))}>
                {OFFSETS.map((o) => <option key={o} value={o}>{offsetLabel(o)}</option>)}
              </select>
            </label>
            {windows.map((w, i) => (
              <div key={i} className="hours-window" role="group" aria-label={t("channelSettings.window", { n: i + 1 })}>
                <div className="event-types">
                  {DAYS.map((d) => (
                    <label key={d} className="check"><input type="checkbox" checked={w.days.includes(d)}
                      onChange={(e) => setWindow(i, { days: e.target.checked ? [...w.days, d].sort() : w.days.filter((x) => x !== d) })} /> {weekday(d)}</label>
                  ))}
                </div>
                <input type="time" aria-label={t("channelSettings.opens")} value={w.start} onChange={(e) => setWindow(i, { start: e.target.value })} required />
                <input type="time" aria-label={t("channelSettings.closes")} value={w.end} onChange={(e) => setWindow(i, { end: e.target.value })} required />
                <button type="button" onClick={() => setWindows(windows.filter((_, j) => j !== i))}>{t("common.remove")}</button>
              </div>
            ))}
            <div><button type="button" onClick={() => setWindows([...windows, { days: [6], start: "09:00", end: "13:00" }])}>{t("channelSettings.addWindow")}</button></div>
          </>
        )}
      </fieldset>
      {save.error && <p role="alert" className="error">{problemText(save.error)}</p>}
      {save.isSuccess && <p role="status">{t("settings.saved")}</p>}
      <div><button type="submit" disabled={save.isPending}>{t("common.save")}</button></div>
    </form>
  );
}

/** One text per language (Portuguese, English, Spanish) for a greeting or an away message. */
function PerLanguage({ kind, value, onChange }: { kind: "greeting" | "away"; value: Texts; onChange: (v: Texts) => void }) {
  const { t } = useTranslation();
  return (
    <fieldset>
      <legend>{t(`channelSettings.${kind}`)}</legend>
      <p className="muted">{t(`channelSettings.${kind}Hint`)}</p>
      {LANGUAGES.map((l) => (
        <label key={l}>{t(`channelSettings.languages.${l}`)}
          <textarea rows={2} maxLength={4096} value={value[l]} onChange={(e) => onChange({ ...value, [l]: e.target.value })} />
        </label>
      ))}
    </fieldset>
  );
}

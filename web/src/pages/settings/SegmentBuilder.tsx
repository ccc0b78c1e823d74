// Building a segment: tags it must have, may have or must not have, attribute values, open deals
// in pipeline stages, last activity between two days, a channel the contact can be written on,
// and whether opted-out contacts count. Every change shows, after a short pause, how many
// contacts it selects now and a sample (the API's preview, the same SQL campaigns resolve with).
import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, type Page, post, problemText } from "../../api";
import { number } from "../../format";
import { useSettled } from "../../settled";
import type { FilterPreview, Pipeline, Segment } from "../../types";
import { emptyDraft, type FilterDraft, type FilterInvalid, segmentFilter, toDraft, toFilter } from "./segmentFilter";

export function SegmentBuilder({ segment, onDone }: { segment?: Segment; onDone: () => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState(segment?.name ?? "");
  const [description, setDescription] = useState(segment?.description ?? "");
  // A saved filter this app cannot read (written through the API with something newer) starts
  // empty rather than breaking the page; saving would replace it, so the check below says so.
  const [saved] = useState(() => segmentFilter.safeParse(segment?.filter ?? {}));
  const [draft, setDraft] = useState<FilterDraft>(() => (saved.success ? toDraft(saved.data) : emptyDraft()));
  const pipelines = useQuery({ queryKey: ["pipelines"], queryFn: () => get<Page<Pipeline>>("/pipelines") });
  const channels = useQuery({ queryKey: ["channels"], queryFn: () => get<Page<{ id: string; name: string }>>("/channels") });
  const checked = segmentFilter.safeParse(toFilter(draft));
  const invalid = checked.success ? null : (checked.error.issues[0]?.message as FilterInvalid);
  const filter = useSettled(checked.success ? JSON.stringify(checked.data) : null, 300);
  const preview = useQuery({
    queryKey: ["segment-preview", filter],
    queryFn: () => post<FilterPreview>("/segments/preview", { filter: JSON.parse(filter!) as unknown }),
    enabled: filter !== null,
    placeholderData: keepPreviousData,
  });
  const save = useMutation({
    mutationFn: () => {
      const body = { name, description: description.trim() || null, filter: toFilter(draft) };
      return segment ? api("PATCH", `/segments/${segment.id}`, body) : post("/segments", body);
    },
    onSuccess: onDone,
  });
  const set = (change: Partial<FilterDraft>) => setDraft({ ...draft, ...change });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (checked.success) save.mutate();
  };
  const label = segment ? t("segments.editOne", { name: segment.name }) : t("segments.new");
  return (
    <form className="stack" onSubmit={submit} aria-label={label}>
      <h2>{label}</h2>
      <label>{t("common.name")}<input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} /></label>
      <label>{t("segments.description")}<input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1000} /></label>
      <fieldset>
        <legend>{t("segments.tags")}</legend>
        <p className="muted">{t("segments.tagsHint")}</p>
        <label>{t("segments.tagsAll")}<input value={draft.tags_all} onChange={(e) => set({ tags_all: e.target.value })} /></label>
        <label>{t("segments.tagsAny")}<input value={draft.tags_any} onChange={(e) => set({ tags_any: e.target.value })} /></label>
        <label>{t("segments.tagsNone")}<input value={draft.tags_none} onChange={(e) => set({ tags_none: e.target.value })} /></label>
      </fieldset>
      <fieldset>
        <legend>{t("segments.attributes")}</legend>
        {draft.attributes.map((a, i) => (
          <div key={i} className="row" role="group" aria-label={t("segments.attributeN", { n: i + 1 })}>
            <label>{t("segments.attribute")}<input value={a.key} onChange={(e) => set({ attributes: draft.attributes.map((b, j) => (j === i ? { ...b, key: e.target.value } : b)) })} /></label>
            <label>{t("segments.equals")}<input value={a.value} onChange={(e) => set({ attributes: draft.attributes.map((b, j) => (j === i ? { ...b, value: e.target.value } : b)) })} /></label>
            <button type="button" onClick={() => set({ attributes: draft.attributes.filter((_, j) => j !== i) })}>{t("common.remove")}</button>
          </div>
        ))}
        <div><button type="button" onClick={() => set({ attributes: [...draft.attributes, { key: "", value: "" }] })}>{t("segments.addAttribute")}</button></div>
      </fieldset>
      {pipelines.data && pipelines.data.items.length > 0 && (
        <fieldset>
          <legend>{t("segments.stages")}</legend>
          {pipelines.data.items.flatMap((p) => p.stages.map((s) => (
            <label key={s.id} className="check">
              <input type="checkbox" checked={draft.stages.includes(s.id)}
                onChange={(e) => set({ stages: e.target.checked ? [...draft.stages, s.id] : draft.stages.filter((id) => id !== s.id) })} /> {p.name} · {s.name}
            </label>
          )))}
        </fieldset>
      )}
      <fieldset>
        <legend>{t("segments.activity")}</legend>
        <label>{t("segments.activeFrom")}<input type="date" value={draft.after} onChange={(e) => set({ after: e.target.value })} /></label>
        <label>{t("segments.activeBefore")}<input type="date" value={draft.before} onChange={(e) => set({ before: e.target.value })} /></label>
      </fieldset>
      <label>{t("segments.channel")}
        <select value={draft.channel_id} onChange={(e) => set({ channel_id: e.target.value })}>
          <option value="">{t("segments.anyChannel")}</option>
          {channels.data?.items.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
      </label>
      <label className="check"><input type="checkbox" checked={draft.include_opted_out} onChange={(e) => set({ include_opted_out: e.target.checked })} /> {t("segments.includeOptedOut")}</label>
      {!saved.success && <p role="alert" className="error">{t("segments.unreadable")}</p>}
      {invalid && <p role="alert" className="error">{t(`segments.invalid.${invalid}`)}</p>}
      <div className="panel" data-testid="segment-preview" aria-live="polite" aria-busy={preview.isFetching}>
        {preview.isError ? <p role="alert" className="error">{problemText(preview.error)}</p> : preview.data && (
          <>
            <p><strong data-testid="segment-live-count">{t("segments.count", { formatted: number(preview.data.count) })}</strong></p>
            {preview.data.sample.length > 0 && (
              <>
                <p className="muted">{t("segments.sample")}</p>
                <ul data-testid="segment-sample">
                  {(preview.data.sample as unknown as { id: string; display_name: string | null }[]).map((c) => <li key={c.id}>{c.display_name ?? t("segments.unnamed")}</li>)}
                </ul>
              </>
            )}
          </>
        )}
      </div>
      {save.isError && <p role="alert" className="error">{problemText(save.error)}</p>}
      <div>
        <button type="submit" disabled={!checked.success || save.isPending}>{t("common.save")}</button>{" "}
        <button type="button" onClick={onDone}>{t("common.cancel")}</button>
      </div>
    </form>
  );
}

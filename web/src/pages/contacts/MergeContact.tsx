// Merging a duplicate into this contact (agents and admins): find the other contact, see what the
// merge would move and the contact that would remain (the API's preview), then merge. The merge is
// a ContactMerge workflow; the page follows it until it has finished.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { get, type Page, post, problemText } from "../../api";
import { number } from "../../format";
import { useSettled } from "../../settled";
import type { Merge, MergePreview, StartedMerge } from "../../types";

interface Found { id: string; display_name: string | null; tags: string[] }
export function MergeContact({ contactId, onMerged, onCancel }: { contactId: string; onMerged: () => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const [query, setQuery] = useState("");
  const [chosen, setChosen] = useState<string | null>(null);
  const searched = useSettled(query.trim(), 250);
  const found = useQuery({
    queryKey: ["contacts", "search", searched],
    queryFn: () => get<Page<Found>>(`/contacts?limit=10&q=${encodeURIComponent(searched)}`),
    enabled: searched.length >= 2,
  });
  const preview = useQuery({
    queryKey: ["merge-preview", contactId, chosen],
    queryFn: () => get<MergePreview>(`/contacts/${contactId}/merge-preview?merge_contact_id=${chosen}`),
    enabled: chosen !== null,
  });
  const start = useMutation({ mutationFn: () => post<StartedMerge>(`/contacts/${contactId}/merge`, { merge_contact_id: chosen }) });
  // The workflow runs on; the merge's record says when it is done.
  const progress = useQuery({
    queryKey: ["merge", start.data?.id],
    queryFn: () => get<Merge>(`/contact-merges/${start.data!.id}`),
    enabled: !!start.data,
    refetchInterval: (q) => (q.state.data?.status === "completed" ? false : 500),
  });
  const done = progress.data?.status === "completed";
  const error = found.error ?? preview.error ?? start.error ?? progress.error;
  const p = preview.data;
  const nameOf = (c: { display_name: string | null }) => c.display_name ?? t("segments.unnamed");
  return (
    <section className="panel stack" aria-label={t("merge.title")}>
      <h2>{t("merge.title")}</h2>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      {!chosen && (
        <>
          <label>{t("merge.find")}<input type="search" value={query} onChange={(e) => setQuery(e.target.value)} /></label>
          <ul data-testid="merge-candidates">
            {found.data?.items.filter((c) => c.id !== contactId).map((c) => (
              <li key={c.id}>
                {nameOf(c)} {c.tags.length > 0 && <span className="muted">({c.tags.join(", ")})</span>}{" "}
                <button type="button" aria-label={t("merge.chooseOne", { name: nameOf(c) })} onClick={() => setChosen(c.id)}>{t("merge.choose")}</button>
              </li>
            ))}
          </ul>
        </>
      )}
      {p && (
        <div data-testid="merge-preview">
          <p>{t("merge.lead", { merged: nameOf(p.merged), surviving: nameOf(p.surviving) })}</p>
          <ul>
            <li>{t("merge.identities", { n: number(p.moves.identities) })}</li>
            <li>{t("merge.conversations", { n: number(p.moves.conversations), messages: number(p.moves.messages) })}</li>
            <li>{t("merge.deals", { n: number(p.moves.deals) })}{p.moves.deals_closed_as_lost > 0 && ` ${t("merge.dealsLost", { n: number(p.moves.deals_closed_as_lost) })}`}</li>
            <li>{t("merge.tickets", { tickets: number(p.moves.tickets), tasks: number(p.moves.tasks) })}</li>
            <li>{t("merge.memories", { n: number(p.moves.memories) })}</li>
          </ul>
          <h3>{t("merge.result")}</h3>
          <dl>
            <dt>{t("common.name")}</dt><dd>{nameOf(p.result)}</dd>
            <dt>{t("contacts.tags")}</dt><dd>{p.result.tags.join(", ") || t("common.none")}</dd>
            <dt>{t("contacts.attributes")}</dt>
            <dd>{Object.entries(p.result.custom_attributes).map(([k, v]) => `${k}: ${String(v)}`).join(" · ") || t("common.none")}</dd>
          </dl>
          {p.result.conflicting_attributes.map((k) => (
            <p key={k} className="muted" data-testid="merge-conflict">
              {t("merge.conflict", { key: k, kept: String(p.surviving.custom_attributes[k]), dropped: String(p.merged.custom_attributes[k]) })}
            </p>
          ))}
          {done ? <p role="status">{t("merge.done")}</p> : start.data ? <p role="status" className="muted">{t("merge.running")}</p> : (
            <div>
              <button type="button" disabled={start.isPending} onClick={() => start.mutate()}>{t("merge.confirm")}</button>{" "}
              <button type="button" onClick={() => setChosen(null)}>{t("merge.another")}</button>
            </div>
          )}
        </div>
      )}
      <div>{done ? <button type="button" onClick={onMerged}>{t("merge.close")}</button> : <button type="button" onClick={onCancel}>{t("common.cancel")}</button>}</div>
    </section>
  );
}

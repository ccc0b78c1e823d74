// Segments: saved contact filters that campaigns target. Everyone sees them with how many contacts
// each selects now; agents and admins build, change and delete them (the API refuses viewers).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, canWrite, get, type Page, problemText, type Session } from "../../api";
import { dateTime, number } from "../../format";
import type { FilterPreview, Segment } from "../../types";
import { SegmentBuilder } from "./SegmentBuilder";

export function Segments({ session }: { session: Session }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const writer = canWrite(session.role);
  const segments = useQuery({ queryKey: ["segments"], queryFn: () => get<Page<Segment>>("/segments") });
  const [editing, setEditing] = useState<Segment | "new" | null>(null);
  const done = async () => {
    setEditing(null);
    await queries.invalidateQueries({ queryKey: ["segments"] });
  };
  const remove = useMutation({ mutationFn: (id: string) => api("DELETE", `/segments/${id}`), onSuccess: done });
  const error = segments.error ?? remove.error;
  return (
    <div className="settings-body">
      <p className="muted">{t("segments.intro")}</p>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      {writer && editing === null && <div><button type="button" onClick={() => setEditing("new")}>{t("segments.new")}</button></div>}
      {editing !== null && <SegmentBuilder key={editing === "new" ? "new" : editing.id} segment={editing === "new" ? undefined : editing} onDone={() => void done()} />}
      {segments.data && (segments.data.items.length === 0 ? <p className="muted">{t("segments.none")}</p> : (
        <div className="table-scroll">
          <table className="table" data-testid="segments">
            <thead>
              <tr><th>{t("common.name")}</th><th>{t("segments.contacts")}</th><th>{t("segments.changed")}</th>{writer && <th><span className="sr-only">{t("common.actions")}</span></th>}</tr>
            </thead>
            <tbody>
              {segments.data.items.map((s) => (
                <tr key={s.id} data-testid="segment">
                  <td><strong>{s.name}</strong>{s.description && <div className="muted">{s.description}</div>}</td>
                  <td><SegmentCount id={s.id} /></td>
                  <td>{dateTime(s.updated_at)}</td>
                  {writer && (
                    <td>
                      <button type="button" aria-label={t("segments.editOne", { name: s.name })} onClick={() => setEditing(s)}>{t("common.edit")}</button>{" "}
                      <button type="button" aria-label={t("segments.deleteOne", { name: s.name })} onClick={() => {
                        if (window.confirm(t("segments.confirmDelete", { name: s.name }))) remove.mutate(s.id);
                      }}>{t("common.delete")}</button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}

/** A saved segment's count now (its `GET` previews it). */
function SegmentCount({ id }: { id: string }) {
  const count = useQuery({ queryKey: ["segments", id], queryFn: () => get<FilterPreview>(`/segments/${id}`) });
  return <span data-testid="segment-count">{count.data ? number(count.data.count) : "…"}</span>;
}

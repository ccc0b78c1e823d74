// Quick replies: the team's canned answers, typed as /shortcut in the composer. Agents and admins
// add, edit and delete them; the API refuses a variable it cannot fill, and its message is shown.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, canWrite, get, post, problemText, type Session } from "../api";
import type { QuickReply } from "../types";

const VARIABLES = ["{{contact.first_name}}", "{{contact.name}}", "{{agent.name}}", "{{business.name}}"];
const EMPTY = { shortcut: "", title: "", body: "" };

export function QuickReplies({ session }: { session: Session }) {
  const { t } = useTranslation();
  const [form, setForm] = useState(EMPTY);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const writable = canWrite(session.role);
  const fail = (e: unknown) => setError(problemText(e));

  const queries = useQueryClient();
  const list = useQuery({ queryKey: ["quick-replies"], queryFn: () => get<{ items: QuickReply[] }>("/quick-replies") });
  const items = list.data?.items ?? null;
  const load = useCallback(() => queries.invalidateQueries({ queryKey: ["quick-replies"] }), [queries]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      if (editing) await api("PATCH", `/quick-replies/${editing}`, form);
      else await post("/quick-replies", form);
      setForm(EMPTY);
      setEditing(null);
      setError(null);
      await load();
    } catch (err) {
      fail(err);
    }
  };
  const remove = async (q: QuickReply) => {
    if (!window.confirm(t("quickReplies.confirmDelete", { shortcut: q.shortcut }))) return;
    try {
      await api("DELETE", `/quick-replies/${q.id}`);
      await load();
    } catch (e) {
      fail(e);
    }
  };

  return (
    <section className="page" aria-label={t("quickReplies.title")}>
      <header className="page-header"><h1>{t("quickReplies.title")}</h1></header>
      <p className="muted">{t("quickReplies.intro", { variables: VARIABLES.join(", ") })}</p>
      {(error ?? list.error) && <p role="alert" className="error">{error ?? problemText(list.error)}</p>}
      {writable && (
        <form className="stack" onSubmit={(e) => void save(e)} aria-label={editing ? t("quickReplies.edit") : t("quickReplies.new")}>
          <label>{t("quickReplies.shortcut")} <input value={form.shortcut} onChange={(e) => setForm({ ...form, shortcut: e.target.value })} required maxLength={33} /></label>
          <label>{t("common.title")} <input value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} required maxLength={100} /></label>
          <label>{t("quickReplies.text")} <textarea value={form.body} onChange={(e) => setForm({ ...form, body: e.target.value })} required maxLength={4096} rows={3} /></label>
          <div>
            <button type="submit">{editing ? t("common.save") : t("quickReplies.add")}</button>
            {editing && <button type="button" onClick={() => { setEditing(null); setForm(EMPTY); }}>{t("common.cancel")}</button>}
          </div>
        </form>
      )}
      {items === null ? <p className="muted">{t("common.loading")}</p> : items.length === 0 ? <p className="muted">{t("quickReplies.none")}</p> : (
        <table className="table" data-testid="quick-replies">
          <thead><tr><th>{t("quickReplies.shortcut")}</th><th>{t("common.title")}</th><th>{t("quickReplies.text")}</th>{writable && <th><span className="sr-only">{t("common.actions")}</span></th>}</tr></thead>
          <tbody>
            {items.map((q) => (
              <tr key={q.id} data-testid="quick-reply">
                <td>/{q.shortcut}</td>
                <td>{q.title}</td>
                <td>{q.body}</td>
                {writable && (
                  <td>
                    <button type="button" onClick={() => { setEditing(q.id); setForm({ shortcut: q.shortcut, title: q.title, body: q.body }); }} aria-label={t("quickReplies.editOne", { shortcut: q.shortcut })}>{t("common.edit")}</button>
                    <button type="button" onClick={() => void remove(q)} aria-label={t("quickReplies.deleteOne", { shortcut: q.shortcut })}>{t("common.delete")}</button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Quick replies: the team's canned answers, typed as /shortcut in the composer. Agents and admins
// add, edit and delete them; the API refuses a variable it cannot fill, and its message is shown.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { api, ApiError, canWrite, get, post, type Session } from "../api";
import type { QuickReply } from "../types";

const VARIABLES = ["{{contact.first_name}}", "{{contact.name}}", "{{agent.name}}", "{{business.name}}"];
const EMPTY = { shortcut: "", title: "", body: "" };

export function QuickReplies({ session }: { session: Session }) {
  const [items, setItems] = useState<QuickReply[] | null>(null);
  const [form, setForm] = useState(EMPTY);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const writable = canWrite(session.role);
  const fail = (e: unknown) => setError(e instanceof ApiError ? e.detail || e.title : String(e));

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: QuickReply[] }>("/quick-replies")).items);
    } catch (e) {
      fail(e);
    }
  }, []);
  useEffect(() => void load(), [load]);

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
    if (!window.confirm(`Delete /${q.shortcut}?`)) return;
    try {
      await api("DELETE", `/quick-replies/${q.id}`);
      await load();
    } catch (e) {
      fail(e);
    }
  };

  return (
    <section className="page" aria-label="Quick replies">
      <header className="page-header"><h1>Quick replies</h1></header>
      <p className="muted">Type / and the shortcut in a conversation's reply box. Variables: {VARIABLES.join(", ")}.</p>
      {error && <p role="alert" className="error">{error}</p>}
      {writable && (
        <form className="stack" onSubmit={(e) => void save(e)} aria-label={editing ? "Edit quick reply" : "New quick reply"}>
          <label>Shortcut <input value={form.shortcut} onChange={(e) => setForm({ ...form, shortcut: e.target.value })} required maxLength={33} /></label>
          <label>Title <input value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} required maxLength={100} /></label>
          <label>Text <textarea value={form.body} onChange={(e) => setForm({ ...form, body: e.target.value })} required maxLength={4096} rows={3} /></label>
          <div>
            <button type="submit">{editing ? "Save" : "Add quick reply"}</button>
            {editing && <button type="button" onClick={() => { setEditing(null); setForm(EMPTY); }}>Cancel</button>}
          </div>
        </form>
      )}
      {items === null ? <p className="muted">Loading…</p> : items.length === 0 ? <p className="muted">No quick replies yet.</p> : (
        <table className="table" data-testid="quick-replies">
          <thead><tr><th>Shortcut</th><th>Title</th><th>Text</th>{writable && <th><span className="sr-only">Actions</span></th>}</tr></thead>
          <tbody>
            {items.map((q) => (
              <tr key={q.id} data-testid="quick-reply">
                <td>/{q.shortcut}</td>
                <td>{q.title}</td>
                <td>{q.body}</td>
                {writable && (
                  <td>
                    <button type="button" onClick={() => { setEditing(q.id); setForm({ shortcut: q.shortcut, title: q.title, body: q.body }); }} aria-label={`Edit /${q.shortcut}`}>Edit</button>
                    <button type="button" onClick={() => void remove(q)} aria-label={`Delete /${q.shortcut}`}>Delete</button>
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

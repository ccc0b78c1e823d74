// Users and roles: the team. Admins invite (with a first password the person changes, or with a
// link with which they choose their own), change roles, disable and delete; everyone else sees
// who is on the team.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, type Page, post, problemText, type Session } from "../../api";
import { dateTime } from "../../format";
import type { CreatedInvitation, Role, User } from "../../types";
import { PendingInvitations } from "./Invitations";
import { invitation, newUser, type UserInvalid, userProblems } from "./userSchema";
import { ShownOnce } from "./ShownOnce";

const ROLES: Role[] = ["admin", "agent", "viewer"];
const EMPTY = { name: "", email: "", role: "agent" as Role, password: "" };
type How = "password" | "link";
/** The form's fields, as the schema names them. */
const NAME = "name";
const EMAIL = "email";
const PASSWORD = "password";

export function Users({ session }: { session: Session }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const admin = session.role === "admin";
  const users = useQuery({ queryKey: ["users"], queryFn: () => get<Page<User>>("/users") });
  const [form, setForm] = useState(EMPTY);
  const [how, setHow] = useState<How>("password");
  const [invalid, setInvalid] = useState<Partial<Record<string, UserInvalid>>>({});
  const done = () => queries.invalidateQueries({ queryKey: ["users"] });
  const invite = useMutation({ mutationFn: () => post<User>("/users", form), onSuccess: async () => { setForm(EMPTY); await done(); } });
  const link = useMutation({
    mutationFn: () => post<CreatedInvitation>("/invitations", { name: form.name, email: form.email, role: form.role }),
    onSuccess: async () => { setForm(EMPTY); await queries.invalidateQueries({ queryKey: ["invitations"] }); },
  });
  const change = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Partial<Pick<User, "role" | "disabled">> }) => api<User>("PATCH", `/users/${id}`, body),
    onSuccess: done,
  });
  const remove = useMutation({ mutationFn: (id: string) => api("DELETE", `/users/${id}`), onSuccess: done });
  const error = invite.error ?? link.error ?? change.error ?? remove.error ?? users.error;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const checked = how === "link" ? invitation.safeParse(form) : newUser.safeParse(form);
    setInvalid(userProblems(checked));
    if (!checked.success) return;
    if (how === "link") link.mutate();
    else invite.mutate();
  };
  /** A field's problem, said beside it and tied to it for screen readers. */
  const problem = (field: string) => invalid[field] && <span id={`invite-${field}-error`} className="error field-error">{t(`invitations.invalid.${invalid[field]}`)}</span>;
  const described = (field: string) => (invalid[field] ? { "aria-invalid": true, "aria-describedby": `invite-${field}-error` } : {});
  return (
    <div className="settings-body">
      <p className="muted">{t("settings.usersIntro")}</p>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      {invite.isSuccess && <p role="status">{t("settings.invited", { name: invite.data.name })}</p>}
      {link.data && <ShownOnce label={t("invitations.linkOnce", { email: link.data.email })} secret={link.data.url} />}
      {users.data && (
        <div className="table-scroll">
          <table className="table" data-testid="users">
            <thead>
              <tr><th>{t("common.name")}</th><th>{t("settings.email")}</th><th>{t("settings.role")}</th><th>{t("common.status")}</th><th>{t("settings.lastLogin")}</th>{admin && <th><span className="sr-only">{t("common.actions")}</span></th>}</tr>
            </thead>
            <tbody>
              {users.data.items.map((u) => {
                const self = u.id === session.userId;
                return (
                  <tr key={u.id} data-testid="user">
                    <td>{u.name} {self && <span className="muted">{t("settings.you")}</span>}</td>
                    <td>{u.email}</td>
                    <td>
                      {admin && !self ? (
                        <select aria-label={t("settings.roleOf", { name: u.name })} value={u.role} onChange={(e) => change.mutate({ id: u.id, body: { role: e.target.value as Role } })}>
                          {ROLES.map((r) => <option key={r} value={r}>{t(`roles.${r}`)}</option>)}
                        </select>
                      ) : t(`roles.${u.role}`)}
                    </td>
                    <td data-status={u.disabled ? "disabled" : "active"}>{u.disabled ? t("settings.disabled") : t("settings.active")}</td>
                    <td>{u.last_login_at ? dateTime(u.last_login_at) : t("settings.never")}</td>
                    {admin && (
                      <td>
                        {!self && (
                          <>
                            <button type="button" onClick={() => change.mutate({ id: u.id, body: { disabled: !u.disabled } })}
                              aria-label={u.disabled ? t("settings.enableOne", { name: u.name }) : t("settings.disableOne", { name: u.name })}>
                              {u.disabled ? t("settings.enable") : t("settings.disable")}
                            </button>
                            <button type="button" aria-label={t("settings.deleteOne", { name: u.name })}
                              onClick={() => {
                                if (window.confirm(t("settings.confirmDeleteUser", { name: u.name }))) remove.mutate(u.id);
                              }}>
                              {t("common.delete")}
                            </button>
                          </>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {admin && (
        <form className="stack" onSubmit={submit} aria-label={t("settings.invite")} noValidate>
          <h2>{t("settings.invite")}</h2>
          <label>{t("common.name")}<input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} {...described(NAME)} /></label>
          {problem(NAME)}
          <label>{t("settings.email")}<input type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} {...described(EMAIL)} /></label>
          {problem(EMAIL)}
          <label>{t("settings.role")}
            <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              {ROLES.map((r) => <option key={r} value={r}>{t(`roles.${r}`)}</option>)}
            </select>
          </label>
          <fieldset>
            <legend>{t("invitations.how")}</legend>
            <label className="check"><input type="radio" name="how" checked={how === "password"} onChange={() => setHow("password")} /> {t("invitations.byPassword")}</label>
            <label className="check"><input type="radio" name="how" checked={how === "link"} onChange={() => setHow("link")} /> {t("invitations.byLink")}</label>
          </fieldset>
          {how === "password" && (
            <label>{t("settings.firstPassword")}
              <input type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} {...described(PASSWORD)} />
            </label>
          )}
          {how === "password" && problem(PASSWORD)}
          <div><button type="submit" disabled={invite.isPending || link.isPending}>{how === "link" ? t("invitations.create") : t("settings.inviteButton")}</button></div>
        </form>
      )}
      {admin && <PendingInvitations />}
    </div>
  );
}

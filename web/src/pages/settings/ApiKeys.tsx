// API keys (admins): create one for another system with a role, see when each was last used,
// revoke. The key itself is shown once, when it is created; the API keeps only its hash.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, post, problemText } from "../../api";
import { dateTime } from "../../format";
import type { ApiKey, CreatedApiKey, Role } from "../../types";
import { ShownOnce } from "./ShownOnce";

const ROLES: Role[] = ["agent", "viewer", "admin"];

export function ApiKeys() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => get<{ items: ApiKey[] }>("/api-keys") });
  const [form, setForm] = useState({ name: "", role: "agent" as Role });
  const done = () => queries.invalidateQueries({ queryKey: ["api-keys"] });
  const create = useMutation({ mutationFn: () => post<CreatedApiKey>("/api-keys", form), onSuccess: async () => { setForm({ name: "", role: "agent" }); await done(); } });
  const revoke = useMutation({ mutationFn: (id: string) => api("DELETE", `/api-keys/${id}`), onSuccess: done });
  const error = create.error ?? revoke.error ?? keys.error;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <div className="settings-body">
      <p className="muted">{t("settings.keysIntro")}</p>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      {create.data && <ShownOnce label={t("settings.keyOnce", { name: create.data.name })} secret={create.data.api_key} />}
      <form className="stack" onSubmit={submit} aria-label={t("settings.newKey")}>
        <h2>{t("settings.newKey")}</h2>
        <label>{t("settings.keyName")}<input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required maxLength={200} /></label>
        <label>{t("settings.role")}
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            {ROLES.map((r) => <option key={r} value={r}>{t(`roles.${r}`)}</option>)}
          </select>
        </label>
        <div><button type="submit" disabled={create.isPending}>{t("settings.createKey")}</button></div>
      </form>
      {keys.data && (keys.data.items.length === 0 ? <p className="muted">{t("settings.noKeys")}</p> : (
        <div className="table-scroll">
          <table className="table" data-testid="api-keys">
            <thead>
              <tr><th>{t("common.name")}</th><th>{t("settings.prefix")}</th><th>{t("settings.role")}</th><th>{t("common.created")}</th><th>{t("settings.lastUsed")}</th><th><span className="sr-only">{t("common.actions")}</span></th></tr>
            </thead>
            <tbody>
              {keys.data.items.map((k) => (
                <tr key={k.id} data-testid="api-key">
                  <td>{k.name}</td>
                  <td><code>{k.prefix}…</code></td>
                  <td>{t(`roles.${k.role}`)}</td>
                  <td>{dateTime(k.created_at)}</td>
                  <td>{k.last_used_at ? dateTime(k.last_used_at) : t("settings.never")}</td>
                  <td>
                    {k.revoked_at ? <span data-status="revoked">{t("settings.revoked")}</span> : (
                      <button type="button" aria-label={t("settings.revokeOne", { name: k.name })} onClick={() => {
                        if (window.confirm(t("settings.confirmRevoke", { name: k.name }))) revoke.mutate(k.id);
                      }}>{t("settings.revoke")}</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}

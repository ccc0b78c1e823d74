// A user's own profile: their name, language and password (the current one is required, so a
// session left open is not enough to take the account).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, logout, type Page, problemText, type Session } from "../../api";
import { LanguagePicker } from "../../LanguagePicker";
import type { User } from "../../types";

export function Profile({ session }: { session: Session }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => get<Page<User>>("/users") });
  const me = users.data?.items.find((u) => u.id === session.userId);
  const [name, setName] = useState<string | null>(null);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const rename = useMutation({
    mutationFn: (value: string) => api<User>("PATCH", `/users/${session.userId}`, { name: value }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["users"] }),
  });
  const password = useMutation({
    mutationFn: () => api<User>("PATCH", `/users/${session.userId}`, { password: next, current_password: current }),
    // A new password ends every session, this one included.
    onSuccess: () => setTimeout(() => void logout(), 1500),
  });
  const saveName = (e: FormEvent) => {
    e.preventDefault();
    if (name !== null) rename.mutate(name);
  };
  const savePassword = (e: FormEvent) => {
    e.preventDefault();
    password.mutate();
  };
  return (
    <div className="settings-body">
      <form className="stack" onSubmit={saveName} aria-label={t("settings.profile")}>
        <label>{t("settings.profileName")}
          <input value={name ?? me?.name ?? ""} onChange={(e) => setName(e.target.value)} required maxLength={200} />
        </label>
        <label>{t("common.language")} <LanguagePicker session={session} /></label>
        {rename.error && <p role="alert" className="error">{problemText(rename.error)}</p>}
        {rename.isSuccess && <p role="status">{t("settings.saved")}</p>}
        <div><button type="submit" disabled={rename.isPending}>{t("common.save")}</button></div>
      </form>
      <form className="stack" onSubmit={savePassword} aria-label={t("settings.changePassword")}>
        <h2>{t("settings.changePassword")}</h2>
        <label>{t("settings.currentPassword")}
          <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
        </label>
        <label>{t("settings.newPassword")}
          <input type="password" autoComplete="new-password" minLength={10} value={next} onChange={(e) => setNext(e.target.value)} required />
        </label>
        {password.error && <p role="alert" className="error">{problemText(password.error)}</p>}
        {password.isSuccess && <p role="status">{t("settings.passwordChanged")}</p>}
        <div><button type="submit" disabled={password.isPending}>{t("settings.changePassword")}</button></div>
      </form>
    </div>
  );
}

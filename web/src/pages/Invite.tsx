// The page an invitation link opens (`/invite#token`), before anyone is logged in: it says who is
// invited and with which role, the person chooses their name and password, and is then logged
// in. The token stays in the fragment, which the browser never sends to a server; it is removed
// from the address bar once used.
import { useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, login, problemText, publicPost } from "../api";
import { dateTime } from "../format";
import { LanguagePicker } from "../LanguagePicker";
import type { AcceptedInvitation, InvitationView } from "../types";
import { password as passwordRule } from "./settings/userSchema";

export function Invite() {
  const { t } = useTranslation();
  const [token] = useState(() => window.location.hash.slice(1));
  const invitation = useQuery({
    queryKey: ["invitation", token],
    queryFn: () => publicPost<InvitationView>("/invitations/lookup", { token }),
    enabled: token !== "",
    retry: false,
  });
  const [name, setName] = useState<string | null>(null);
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [mismatch, setMismatch] = useState<string | null>(null);
  const accept = useMutation({
    mutationFn: async () => {
      const made = await publicPost<AcceptedInvitation>("/invitations/accept", { token, name: name ?? invitation.data?.name, password });
      // Logged in at once, and the used token gone from the address bar and history.
      window.history.replaceState({}, "", "/inbox");
      await login(made.email, password, made.tenant_id);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!passwordRule.safeParse(password).success) return setMismatch(t("invite.tooShort"));
    if (password !== again) return setMismatch(t("invite.mismatch"));
    setMismatch(null);
    accept.mutate();
  };
  const dead = token === "" || (invitation.error instanceof ApiError && invitation.error.status === 404);
  return (
    <form className="login" onSubmit={submit} aria-label={t("invite.form")}>
      <h1>Ventros</h1>
      <LanguagePicker session={null} />
      {dead ? <p role="alert" className="error">{t("invite.dead")}</p> : invitation.isError ? (
        <p role="alert" className="error">{problemText(invitation.error)}</p>
      ) : !invitation.data ? <p className="muted">{t("common.loading")}</p> : (
        <>
          <p>{t("invite.lead", { email: invitation.data.email, role: t(`roles.${invitation.data.role}`) })}</p>
          <p className="muted">{t("invite.expires", { when: dateTime(invitation.data.expires_at) })}</p>
          <label>{t("common.name")}<input value={name ?? invitation.data.name} onChange={(e) => setName(e.target.value)} required maxLength={200} autoComplete="name" /></label>
          <label>{t("invite.password")}<input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
          <label>{t("invite.again")}<input type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required /></label>
          {(mismatch ?? (accept.error && problemText(accept.error))) && <p role="alert" className="error">{mismatch ?? problemText(accept.error)}</p>}
          <button type="submit" disabled={accept.isPending}>{t("invite.submit")}</button>
        </>
      )}
    </form>
  );
}

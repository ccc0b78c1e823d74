// Invitations still waiting (admins): who was invited, with which role, until when, and a button
// that kills the link. The links themselves are shown once, when made, and never again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, get, type Page, problemText } from "../../api";
import { dateTime } from "../../format";
import type { Invitation } from "../../types";

export function PendingInvitations() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const invitations = useQuery({ queryKey: ["invitations"], queryFn: () => get<Page<Invitation>>("/invitations") });
  const revoke = useMutation({
    mutationFn: (id: string) => api("DELETE", `/invitations/${id}`),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["invitations"] }),
  });
  const error = invitations.error ?? revoke.error;
  if (!invitations.data?.items.length && !error) return null;
  return (
    <section aria-label={t("invitations.pending")}>
      <h2>{t("invitations.pending")}</h2>
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      <div className="table-scroll">
        <table className="table" data-testid="invitations">
          <thead>
            <tr><th>{t("common.name")}</th><th>{t("settings.email")}</th><th>{t("settings.role")}</th><th>{t("invitations.until")}</th><th><span className="sr-only">{t("common.actions")}</span></th></tr>
          </thead>
          <tbody>
            {invitations.data?.items.map((i) => (
              <tr key={i.id} data-testid="invitation">
                <td>{i.name}</td>
                <td>{i.email}</td>
                <td>{t(`roles.${i.role}`)}</td>
                <td>{dateTime(i.expires_at)}</td>
                <td><button type="button" aria-label={t("invitations.revokeOne", { email: i.email })} onClick={() => revoke.mutate(i.id)}>{t("invitations.revoke")}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

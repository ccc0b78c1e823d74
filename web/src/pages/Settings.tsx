// Settings: what an admin configures without curl, and each user's own profile. Everyone sees
// their profile, the team and the segments; only admins see (and the API only lets admins use) API keys,
// pipelines and stages, and webhook subscriptions, and only admins change users.
import { useTranslation } from "react-i18next";
import { Navigate, NavLink, Route, Routes } from "react-router-dom";
import type { Session } from "../api";
import { ApiKeys } from "./settings/ApiKeys";
import { PipelineSettings } from "./settings/Pipelines";
import { Profile } from "./settings/Profile";
import { Segments } from "./settings/Segments";
import { Users } from "./settings/Users";
import { Webhooks } from "./settings/Webhooks";

export function Settings({ session }: { session: Session }) {
  const { t } = useTranslation();
  const admin = session.role === "admin";
  return (
    <section className="page settings" aria-label={t("settings.title")}>
      <header className="page-header"><h1>{t("settings.title")}</h1></header>
      <nav className="subnav" aria-label={t("settings.sections")}>
        <NavLink to="/settings/profile">{t("settings.profile")}</NavLink>
        <NavLink to="/settings/users">{t("settings.users")}</NavLink>
        <NavLink to="/settings/segments">{t("settings.segments")}</NavLink>
        {admin && <NavLink to="/settings/api-keys">{t("settings.apiKeys")}</NavLink>}
        {admin && <NavLink to="/settings/pipelines">{t("settings.pipelines")}</NavLink>}
        {admin && <NavLink to="/settings/webhooks">{t("settings.webhooks")}</NavLink>}
      </nav>
      <Routes>
        <Route path="profile" element={<Profile session={session} />} />
        <Route path="users" element={<Users session={session} />} />
        <Route path="segments" element={<Segments session={session} />} />
        {admin && <Route path="api-keys" element={<ApiKeys />} />}
        {admin && <Route path="pipelines" element={<PipelineSettings />} />}
        {admin && <Route path="webhooks" element={<Webhooks />} />}
        <Route path="*" element={<Navigate to="/settings/profile" replace />} />
      </Routes>
    </section>
  );
}

// The shell: login gate, navigation, and the pages. Each page is its own chunk, loaded when it is
// first opened: the inbox an operator lives in does not wait for the dashboard's charts or the
// pipeline board's drag-and-drop.
import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import { currentSession, get, logout, onSessionChange, type Session } from "./api";
import { isLocale, switchLocale } from "./i18n";
import { LanguagePicker } from "./LanguagePicker";
import { Login } from "./pages/Login";
import type { Me } from "./types";

const Campaigns = lazy(() => import("./pages/Campaigns").then((m) => ({ default: m.Campaigns })));
const Channels = lazy(() => import("./pages/Channels").then((m) => ({ default: m.Channels })));
const Contacts = lazy(() => import("./pages/Contacts").then((m) => ({ default: m.Contacts })));
const Dashboard = lazy(() => import("./pages/Dashboard").then((m) => ({ default: m.Dashboard })));
const Invite = lazy(() => import("./pages/Invite").then((m) => ({ default: m.Invite })));
const Inbox = lazy(() => import("./pages/Inbox").then((m) => ({ default: m.Inbox })));
const Knowledge = lazy(() => import("./pages/Knowledge").then((m) => ({ default: m.Knowledge })));
const Pipelines = lazy(() => import("./pages/Pipelines").then((m) => ({ default: m.Pipelines })));
const Settings = lazy(() => import("./pages/Settings").then((m) => ({ default: m.Settings })));
const QuickReplies = lazy(() => import("./pages/QuickReplies").then((m) => ({ default: m.QuickReplies })));
const Tickets = lazy(() => import("./pages/Tickets").then((m) => ({ default: m.Tickets })));

/** The user's stored language, applied once per sign-in (it wins over the browser's); after
 * that the picker decides, so a late answer cannot undo a choice just made. */
function useStoredLocale(session: Session | null) {
  const me = useQuery({ queryKey: ["me", session?.accessToken], queryFn: () => get<Me>("/me"), enabled: session !== null });
  const applied = useRef<string | null>(null);
  useEffect(() => {
    if (!session) {
      applied.current = null;
      return;
    }
    if (!me.data || applied.current === session.userId) return;
    applied.current = session.userId;
    const stored = me.data.actor?.kind === "user" ? me.data.actor.locale : null;
    if (isLocale(stored)) void switchLocale(stored);
  }, [session, me.data]);
}

export function App() {
  const { t } = useTranslation();
  const [session, setSession] = useState<Session | null>(currentSession());
  useEffect(() => onSessionChange(setSession), []);
  useStoredLocale(session);
  // An invitation link opens its own page before anyone is logged in.
  if (!session) return window.location.pathname === "/invite" ? <Suspense><Invite /></Suspense> : <Login />;
  return (
    <div className="shell">
      <nav className="nav" aria-label={t("nav.main")}>
        <span className="brand">Ventros</span>
        <NavLink to="/inbox">{t("nav.inbox")}</NavLink>
        <NavLink to="/tickets">{t("nav.tickets")}</NavLink>
        <NavLink to="/contacts">{t("nav.contacts")}</NavLink>
        <NavLink to="/pipelines">{t("nav.pipelines")}</NavLink>
        <NavLink to="/campaigns">{t("nav.campaigns")}</NavLink>
        <NavLink to="/knowledge">{t("nav.knowledge")}</NavLink>
        <NavLink to="/quick-replies">{t("nav.quickReplies")}</NavLink>
        <NavLink to="/channels">{t("nav.channels")}</NavLink>
        <NavLink to="/dashboard">{t("nav.dashboard")}</NavLink>
        <NavLink to="/settings">{t("nav.settings")}</NavLink>
        <span className="spacer" />
        <LanguagePicker session={session} />
        <span className="role" title={t("nav.yourRole")}>{t(`roles.${session.role}`)}</span>
        <button type="button" onClick={() => void logout()}>{t("nav.logOut")}</button>
      </nav>
      <main className="main">
        <Suspense fallback={<p className="muted" role="status">{t("common.loading")}</p>}>
        <Routes>
          <Route path="/inbox/*" element={<Inbox session={session} />} />
          <Route path="/tickets" element={<Tickets session={session} />} />
          <Route path="/contacts/*" element={<Contacts session={session} />} />
          <Route path="/pipelines" element={<Pipelines session={session} />} />
          <Route path="/campaigns/*" element={<Campaigns session={session} />} />
          <Route path="/knowledge" element={<Knowledge session={session} />} />
          <Route path="/quick-replies" element={<QuickReplies session={session} />} />
          <Route path="/channels" element={<Channels session={session} />} />
          <Route path="/dashboard" element={<Dashboard />} />
          <Route path="/settings/*" element={<Settings session={session} />} />
          <Route path="*" element={<Navigate to="/inbox" replace />} />
        </Routes>
        </Suspense>
      </main>
    </div>
  );
}

// The shell: login gate, navigation, and the pages. Each page is its own chunk, loaded when it is
// first opened: the inbox an operator lives in does not wait for the dashboard's charts or the
// pipeline board's drag-and-drop.
import { lazy, Suspense, useEffect, useState } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import { currentSession, logout, onSessionChange, type Session } from "./api";
import { Login } from "./pages/Login";

const Campaigns = lazy(() => import("./pages/Campaigns").then((m) => ({ default: m.Campaigns })));
const Channels = lazy(() => import("./pages/Channels").then((m) => ({ default: m.Channels })));
const Contacts = lazy(() => import("./pages/Contacts").then((m) => ({ default: m.Contacts })));
const Dashboard = lazy(() => import("./pages/Dashboard").then((m) => ({ default: m.Dashboard })));
const Inbox = lazy(() => import("./pages/Inbox").then((m) => ({ default: m.Inbox })));
const Knowledge = lazy(() => import("./pages/Knowledge").then((m) => ({ default: m.Knowledge })));
const Pipelines = lazy(() => import("./pages/Pipelines").then((m) => ({ default: m.Pipelines })));
const QuickReplies = lazy(() => import("./pages/QuickReplies").then((m) => ({ default: m.QuickReplies })));
const Tickets = lazy(() => import("./pages/Tickets").then((m) => ({ default: m.Tickets })));

export function App() {
  const [session, setSession] = useState<Session | null>(currentSession());
  useEffect(() => onSessionChange(setSession), []);
  if (!session) return <Login />;
  return (
    <div className="shell">
      <nav className="nav" aria-label="Main">
        <span className="brand">Ventros</span>
        <NavLink to="/inbox">Inbox</NavLink>
        <NavLink to="/tickets">Tickets</NavLink>
        <NavLink to="/contacts">Contacts</NavLink>
        <NavLink to="/pipelines">Pipelines</NavLink>
        <NavLink to="/campaigns">Campaigns</NavLink>
        <NavLink to="/knowledge">Knowledge</NavLink>
        <NavLink to="/quick-replies">Quick replies</NavLink>
        <NavLink to="/channels">Channels</NavLink>
        <NavLink to="/dashboard">Dashboard</NavLink>
        <span className="spacer" />
        <span className="role" title="Your role">{session.role}</span>
        <button type="button" onClick={() => void logout()}>Log out</button>
      </nav>
      <main className="main">
        <Suspense fallback={<p className="muted" role="status">Loading…</p>}>
        <Routes>
          <Route path="/inbox/*" element={<Inbox session={session} />} />
          <Route path="/tickets" element={<Tickets session={session} />} />
          <Route path="/contacts/*" element={<Contacts />} />
          <Route path="/pipelines" element={<Pipelines session={session} />} />
          <Route path="/campaigns/*" element={<Campaigns session={session} />} />
          <Route path="/knowledge" element={<Knowledge session={session} />} />
          <Route path="/quick-replies" element={<QuickReplies session={session} />} />
          <Route path="/channels" element={<Channels session={session} />} />
          <Route path="/dashboard" element={<Dashboard />} />
          <Route path="*" element={<Navigate to="/inbox" replace />} />
        </Routes>
        </Suspense>
      </main>
    </div>
  );
}

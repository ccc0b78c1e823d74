// The shell: login gate, navigation, and the pages.
import { useEffect, useState } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import { currentSession, logout, onSessionChange, type Session } from "./api";
import { Login } from "./pages/Login";
import { Campaigns } from "./pages/Campaigns";
import { Channels } from "./pages/Channels";
import { Contacts } from "./pages/Contacts";
import { Dashboard } from "./pages/Dashboard";
import { Inbox } from "./pages/Inbox";
import { Knowledge } from "./pages/Knowledge";
import { Pipelines } from "./pages/Pipelines";
import { QuickReplies } from "./pages/QuickReplies";
import { Tickets } from "./pages/Tickets";

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
      </main>
    </div>
  );
}

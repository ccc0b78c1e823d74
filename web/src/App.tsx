// The shell: login gate, navigation, and the pages.
import { useEffect, useState } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import { currentSession, logout, onSessionChange, type Session } from "./api";
import { Login } from "./pages/Login";
import { Inbox } from "./pages/Inbox";

export function App() {
  const [session, setSession] = useState<Session | null>(currentSession());
  useEffect(() => onSessionChange(setSession), []);
  if (!session) return <Login />;
  return (
    <div className="shell">
      <nav className="nav" aria-label="Main">
        <span className="brand">Ventros</span>
        <NavLink to="/inbox">Inbox</NavLink>
        <span className="spacer" />
        <span className="role" title="Your role">{session.role}</span>
        <button type="button" onClick={() => void logout()}>Log out</button>
      </nav>
      <main className="main">
        <Routes>
          <Route path="/inbox/*" element={<Inbox session={session} />} />
          <Route path="*" element={<Navigate to="/inbox" replace />} />
        </Routes>
      </main>
    </div>
  );
}

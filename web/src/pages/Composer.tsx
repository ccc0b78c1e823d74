// The conversation's composer: a reply to the customer or a private note for the team, quick
// replies with `/` (filled for this conversation by the API), and "Suggest a reply" (the agent's
// draft, editable before sending; nothing is sent until the operator sends it).
import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import { ApiError, get, post, type Session } from "../api";
import type { QuickReply } from "../types";

interface Props {
  conversationId: string;
  contactId: string;
  open: boolean;
  session: Session;
  onSent: () => Promise<void>;
  onError: (message: string) => void;
}

export function Composer({ conversationId, contactId, open, onSent, onError }: Props) {
  const [text, setText] = useState("");
  const [note, setNote] = useState(false);
  const [busy, setBusy] = useState(false);
  const [quick, setQuick] = useState<QuickReply[]>([]);
  const [picked, setPicked] = useState(0);
  const box = useRef<HTMLTextAreaElement>(null);
  // r: reply (focus the composer), from anywhere but another field.
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.key !== "r" || e.ctrlKey || e.metaKey || e.altKey) return;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      e.preventDefault();
      box.current?.focus();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  useEffect(() => {
    get<{ items: QuickReply[] }>("/quick-replies").then((l) => setQuick(l.items), () => setQuick([]));
  }, []);
  const typed = text.startsWith("/") && !text.includes(" ") ? text.slice(1).toLowerCase() : null;
  const matches = typed === null ? [] : quick.filter((q) => q.shortcut.startsWith(typed)).slice(0, 8);
  const problem = (e: unknown) => onError(e instanceof ApiError ? e.detail || e.title : String(e));

  const insert = async (q: QuickReply) => {
    try {
      const rendered = await post<{ text: string }>(`/quick-replies/${q.id}/render`, { conversation_id: conversationId });
      setText(rendered.text);
      setPicked(0);
    } catch (e) {
      problem(e);
    }
  };
  const suggest = async () => {
    setBusy(true);
    try {
      const draft = await post<{ draft: string }>("/agents/draft", { contact_id: contactId });
      setNote(false);
      setText(draft.draft);
    } catch (e) {
      problem(e);
    } finally {
      setBusy(false);
    }
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim() || matches.length > 0) return;
    setBusy(true);
    try {
      if (note) await post(`/conversations/${conversationId}/notes`, { body: text });
      else await post(`/conversations/${conversationId}/messages`, { text }, { "Idempotency-Key": crypto.randomUUID() });
      setText("");
      await onSent();
    } catch (err) {
      problem(err);
    } finally {
      setBusy(false);
    }
  };
  const keys = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (matches.length > 0 && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      setPicked((p) => (p + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length);
    } else if (matches.length > 0 && (e.key === "Enter" || e.key === "Tab")) {
      e.preventDefault();
      void insert(matches[Math.min(picked, matches.length - 1)]);
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      void submit(e);
    }
  };

  return (
    <form className={`reply${note ? " note-mode" : ""}`} onSubmit={(e) => void submit(e)}>
      <div className="composer-modes" role="group" aria-label="Write">
        <label className="check"><input type="radio" name="mode" checked={!note} onChange={() => setNote(false)} /> Message to the customer</label>
        <label className="check"><input type="radio" name="mode" checked={note} onChange={() => setNote(true)} /> Note for the team</label>
        <button type="button" onClick={() => void suggest()} disabled={busy}>Suggest a reply</button>
      </div>
      {matches.length > 0 && (
        <ul className="quick-replies" role="listbox" aria-label="Quick replies">
          {matches.map((q, i) => (
            <li key={q.id} role="option" aria-selected={i === picked}>
              <button type="button" onClick={() => void insert(q)}>/{q.shortcut} · {q.title}</button>
            </li>
          ))}
        </ul>
      )}
      <textarea ref={box} aria-label={note ? "Private note" : "Reply"} title="Reply (r)" value={text} onChange={(e) => setText(e.target.value)}
        maxLength={4096} rows={2} placeholder={note ? "Only your team sees this" : "Type / for quick replies"} onKeyDown={keys} />
      <button type="submit" disabled={busy || !text.trim() || (!note && !open)}>{note ? "Add note" : "Send"}</button>
    </form>
  );
}

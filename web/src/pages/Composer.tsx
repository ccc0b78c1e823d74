// The conversation's composer: a reply to the customer or a private note for the team, quick
// replies with `/` (filled for this conversation by the API), "Suggest a reply" (the agent's
// draft, editable before sending; nothing is sent until the operator sends it), and a file to
// send (picked, pasted or dropped; the text is its caption on WhatsApp, its own message on Meta).
import { useQuery } from "@tanstack/react-query";
import { type ClipboardEvent, type DragEvent, type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { get, post, problemText, type Session, upload } from "../api";
import { fileSize } from "../format";
import type { QuickReply, UploadedMedia } from "../types";

interface Props {
  conversationId: string;
  contactId: string;
  /** `waha`, `messenger` or `instagram`: Meta's attachments carry no caption. */
  channelKind: string;
  open: boolean;
  session: Session;
  onSent: () => Promise<void>;
  onError: (message: string) => void;
}

export function Composer({ conversationId, contactId, channelKind, open, onSent, onError }: Props) {
  const { t } = useTranslation();
  const [text, setText] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [voice, setVoice] = useState(false);
  const [dragging, setDragging] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const [note, setNote] = useState(false);
  const [busy, setBusy] = useState(false);
  const quickQuery = useQuery({ queryKey: ["quick-replies"], queryFn: () => get<{ items: QuickReply[] }>("/quick-replies") });
  const quick = quickQuery.data?.items ?? [];
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
  const typed = text.startsWith("/") && !text.includes(" ") ? text.slice(1).toLowerCase() : null;
  const matches = typed === null ? [] : quick.filter((q) => q.shortcut.startsWith(typed)).slice(0, 8);
  const problem = (e: unknown) => onError(problemText(e));

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
  const choose = (picked: File | null | undefined) => {
    if (!picked) return;
    setNote(false);
    setVoice(false);
    setFile(picked);
  };
  const paste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    const pasted = e.clipboardData.files[0];
    if (pasted) {
      e.preventDefault();
      choose(pasted);
    }
  };
  const drop = (e: DragEvent<HTMLFormElement>) => {
    e.preventDefault();
    setDragging(false);
    choose(e.dataTransfer.files[0]);
  };
  const sendFile = async (picked: File) => {
    const uploaded = await upload<UploadedMedia>(picked, voice);
    // Messenger and Instagram take files without captions: the text follows as its own message.
    const meta = channelKind !== "waha";
    const caption = meta ? "" : text.trim();
    await post(`/conversations/${conversationId}/messages`, { media_id: uploaded.id, text: caption }, { "Idempotency-Key": crypto.randomUUID() });
    if (meta && text.trim()) await post(`/conversations/${conversationId}/messages`, { text }, { "Idempotency-Key": crypto.randomUUID() });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if ((!text.trim() && !file) || matches.length > 0) return;
    setBusy(true);
    try {
      if (note) await post(`/conversations/${conversationId}/notes`, { body: text });
      else if (file) await sendFile(file);
      else await post(`/conversations/${conversationId}/messages`, { text }, { "Idempotency-Key": crypto.randomUUID() });
      setText("");
      setFile(null);
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
    <form className={`reply${note ? " note-mode" : ""}${dragging ? " dragging" : ""}`} onSubmit={(e) => void submit(e)}
      onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={drop}>
      <div className="composer-modes" role="group" aria-label={t("composer.write")}>
        <label className="check"><input type="radio" name="mode" checked={!note} onChange={() => setNote(false)} /> {t("composer.toCustomer")}</label>
        <label className="check"><input type="radio" name="mode" checked={note} onChange={() => setNote(true)} /> {t("composer.toTeam")}</label>
        <button type="button" onClick={() => void suggest()} disabled={busy}>{t("composer.suggest")}</button>
      </div>
      {matches.length > 0 && (
        <ul className="quick-replies" role="listbox" aria-label={t("composer.quickReplies")}>
          {matches.map((q, i) => (
            <li key={q.id} role="option" aria-selected={i === picked}>
              <button type="button" onClick={() => void insert(q)}>/{q.shortcut} · {q.title}</button>
            </li>
          ))}
        </ul>
      )}
      {file && (
        <div className="picked-file" data-testid="picked-file">
          <span>📎 {file.name} <span className="muted">{fileSize(file.size)}</span></span>
          {file.type.startsWith("audio/") && (
            <label className="check"><input type="checkbox" checked={voice} onChange={(e) => setVoice(e.target.checked)} /> {t("composer.asVoice")}</label>
          )}
          <button type="button" onClick={() => setFile(null)} aria-label={t("composer.removeFile")}>×</button>
        </div>
      )}
      <input ref={picker} type="file" hidden aria-label={t("composer.fileToSend")} data-testid="file-input"
        accept="image/*,audio/*,video/*,application/pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.txt,.csv,.zip"
        onChange={(e) => { choose(e.target.files?.[0]); e.target.value = ""; }} />
      {!note && <button type="button" className="attach" onClick={() => picker.current?.click()} aria-label={t("composer.attachFile")} title={t("composer.attachHint")}>{t("composer.attach")}</button>}
      <textarea ref={box} aria-label={note ? t("composer.privateNote") : t("composer.reply")} title={t("composer.replyHint")} value={text} onChange={(e) => setText(e.target.value)}
        maxLength={file ? 1024 : 4096} rows={2} onPaste={paste}
        placeholder={note ? t("composer.onlyTeam") : file ? t("composer.caption") : t("composer.typeSlash")} onKeyDown={keys} />
      <button type="submit" disabled={busy || (!text.trim() && !file) || (!note && !open)}>{note ? t("composer.addNote") : t("composer.send")}</button>
    </form>
  );
}

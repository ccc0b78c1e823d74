// Starting a conversation: an existing contact, or a new WhatsApp number, on a channel, with the
// first message. Messenger and Instagram only allow it inside Meta's window: the API says why.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { get, type Page, post, problemText } from "../api";
import { channelLabel } from "../format";
import { useSettled } from "../settled";

interface Channel {
  id: string;
  name: string;
  kind: string;
}

interface ContactHit {
  id: string;
  display_name: string | null;
}

interface Props {
  onClose: () => void;
  onStarted: (conversationId: string | null) => void;
}

/** The conversation a slow start opened, from the list (the API answers before it when busy). */
async function openedLater(contactId: string): Promise<string | null> {
  for (let i = 0; i < 60; i++) {
    const page = await get<Page<{ id: string }>>(`/conversations?contact_id=${contactId}&state=open&limit=1`);
    if (page.items.length > 0) return page.items[0].id;
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}

export function NewConversation({ onClose, onStarted }: Props) {
  const { t } = useTranslation();
  const channelQuery = useQuery({ queryKey: ["channels"], queryFn: () => get<Page<Channel>>("/channels") });
  const channels = channelQuery.data?.items ?? [];
  const [chosenChannel, setChannelId] = useState("");
  const channelId = chosenChannel || channels[0]?.id || "";
  const [who, setWho] = useState<"phone" | "contact">("phone");
  const [phone, setPhone] = useState("");
  const [name, setName] = useState("");
  const [contactQuery, setContactQuery] = useState("");
  const searched = useSettled(contactQuery.trim(), 250);
  const contactSearch = useQuery({
    queryKey: ["contacts", "search", searched],
    queryFn: () => get<Page<ContactHit>>(`/contacts?limit=10&q=${encodeURIComponent(searched)}`),
    enabled: who === "contact" && searched.length >= 2,
  });
  const contacts = contactSearch.data?.items ?? [];
  const [contactId, setContactId] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);


  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body = who === "phone" ? { channel_id: channelId, phone, name: name || undefined, text } : { channel_id: channelId, contact_id: contactId, text };
      const started = await post<{ conversation_id: string | null; contact_id: string }>("/conversations", body, { "Idempotency-Key": crypto.randomUUID() });
      onStarted(started.conversation_id ?? (await openedLater(started.contact_id)));
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="dialog" role="dialog" aria-modal="true" aria-label={t("newConversation.title")}>
      <form onSubmit={(e) => void submit(e)}>
        <h2>{t("newConversation.title")}</h2>
        <label>
          {t("newConversation.channel")}
          <select value={channelId} onChange={(e) => setChannelId(e.target.value)}>
            {channels.map((c) => <option key={c.id} value={c.id}>{c.name} ({channelLabel(c.kind)})</option>)}
          </select>
        </label>
        <fieldset>
          <legend>{t("newConversation.to")}</legend>
          <label className="check"><input type="radio" checked={who === "phone"} onChange={() => setWho("phone")} /> {t("newConversation.aNumber")}</label>
          <label className="check"><input type="radio" checked={who === "contact"} onChange={() => setWho("contact")} /> {t("newConversation.aContact")}</label>
        </fieldset>
        {who === "phone" ? (
          <>
            <label>{t("newConversation.phone")}<input value={phone} onChange={(e) => setPhone(e.target.value)} placeholder="+55 11 98765-4321" required /></label>
            <label>{t("newConversation.name")}<input value={name} onChange={(e) => setName(e.target.value)} /></label>
          </>
        ) : (
          <>
            <label>{t("newConversation.find")}<input value={contactQuery} onChange={(e) => setContactQuery(e.target.value)} /></label>
            <select aria-label={t("newConversation.contact")} value={contactId} onChange={(e) => setContactId(e.target.value)} required>
              <option value="">{t("newConversation.pick")}</option>
              {contacts.map((c) => <option key={c.id} value={c.id}>{c.display_name ?? c.id}</option>)}
            </select>
          </>
        )}
        <label>{t("newConversation.firstMessage")}<textarea value={text} onChange={(e) => setText(e.target.value)} required rows={3} /></label>
        {error && <p role="alert" className="error">{error}</p>}
        <div className="actions">
          <button type="submit" disabled={busy || !channelId || !text.trim()}>{t("newConversation.start")}</button>
          <button type="button" onClick={onClose}>{t("common.cancel")}</button>
        </div>
      </form>
    </div>
  );
}

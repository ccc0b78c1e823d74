// A message's files, shown inline as WhatsApp shows them: photos as previews that open in a
// viewer, voice notes and audio with a player (and the words, where a speech model transcribed
// them), video, documents with their name and size, locations as a map link, contact cards. The
// links are the API's signed, short-lived ones; the thread reloads them with every refresh.
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { fileSize, mapLink } from "../format";
import type { MediaFile } from "../types";

interface Place {
  latitude: number;
  longitude: number;
  name?: string | null;
  address?: string | null;
}

interface Card {
  name?: string | null;
  phones?: string[];
}

const KINDS = ["image", "sticker", "voice", "audio", "video", "document", "location", "contact"] as const;
const isKind = (kind: string): kind is (typeof KINDS)[number] => (KINDS as readonly string[]).includes(kind);

function Viewer({ file, onClose }: { file: MediaFile; onClose: () => void }) {
  const { t } = useTranslation();
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} className="viewer" aria-label={t("attachments.photo")} onClose={onClose} onClick={(e) => e.target === dialog.current && onClose()}>
      <img src={file.url ?? ""} alt={file.filename ?? t("attachments.photoAlt")} />
      <div className="viewer-actions">
        <a href={file.url ?? ""} download={file.filename ?? "photo"}>{t("attachments.download")}</a>
        <button type="button" onClick={onClose} autoFocus>{t("common.close")}</button>
      </div>
    </dialog>
  );
}

function Attachment({ file }: { file: MediaFile }) {
  const { t } = useTranslation();
  const [viewing, setViewing] = useState(false);
  const kind = isKind(file.kind) ? t(`attachments.kinds.${file.kind}`) : file.kind;
  if (file.status === "pending") return <p className="attachment muted" data-testid="attachment-pending">{t("attachments.receiving", { kind })}</p>;
  if (file.status === "failed") {
    const text = file.error ? t("attachments.failedBecause", { kind, reason: file.error }) : t("attachments.failed", { kind });
    return <p className="attachment failed" data-testid="attachment-failed">{text}</p>;
  }
  const url = file.url ?? undefined;
  switch (file.kind) {
    case "image":
    case "sticker":
      return (
        <>
          <button type="button" className={`attachment thumb ${file.kind}`} onClick={() => setViewing(true)} aria-label={t("attachments.open", { kind })}>
            <img src={url} alt={file.filename ?? (file.kind === "sticker" ? t("attachments.sticker") : t("attachments.photo"))} loading="lazy" data-testid="attachment-image" />
          </button>
          {viewing && <Viewer file={file} onClose={() => setViewing(false)} />}
        </>
      );
    case "voice":
    case "audio":
      return (
        <figure className="attachment audio">
          <audio controls preload="metadata" src={url} data-testid="attachment-audio" aria-label={file.kind === "voice" ? t("attachments.voice") : t("attachments.audio")} />
          {file.transcript && <figcaption className="transcript" data-testid="transcript">“{file.transcript}”</figcaption>}
        </figure>
      );
    case "video":
      return <video className="attachment video" controls preload="metadata" src={url} data-testid="attachment-video" aria-label={t("attachments.video")} />;
    case "location": {
      const place = file.details as unknown as Place;
      return (
        <a className="attachment place" href={mapLink(place.latitude, place.longitude)} target="_blank" rel="noreferrer noopener" data-testid="attachment-location">
          📍 {place.name ?? t("attachments.location")}{place.address ? ` · ${place.address}` : ""} <span className="muted">{t("attachments.openMap")}</span>
        </a>
      );
    }
    case "contact": {
      const card = file.details as unknown as Card;
      return (
        <p className="attachment card" data-testid="attachment-contact">
          👤 {card.name ?? t("attachments.contact")}{card.phones && card.phones.length > 0 ? ` · ${card.phones.join(", ")}` : ""}
        </p>
      );
    }
    default:
      return (
        <a className="attachment document" href={url} download={file.filename ?? "file"} data-testid="attachment-document">
          📄 {file.filename ?? t("attachments.document")} <span className="muted">{fileSize(file.size_bytes)}</span>
        </a>
      );
  }
}

export function Attachments({ files }: { files: MediaFile[] }) {
  if (files.length === 0) return null;
  return (
    <div className="attachments">
      {files.map((f) => <Attachment key={f.id} file={f} />)}
    </div>
  );
}

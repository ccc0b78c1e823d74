// A message's files, shown inline as WhatsApp shows them: photos as previews that open in a
// viewer, voice notes and audio with a player (and the words, where a speech model transcribed
// them), video, documents with their name and size, locations as a map link, contact cards. The
// links are the API's signed, short-lived ones; the thread reloads them with every refresh.
import { useEffect, useRef, useState } from "react";
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

function Viewer({ file, onClose }: { file: MediaFile; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} className="viewer" aria-label="Photo" onClose={onClose} onClick={(e) => e.target === dialog.current && onClose()}>
      <img src={file.url ?? ""} alt={file.filename ?? "Photo from the conversation"} />
      <div className="viewer-actions">
        <a href={file.url ?? ""} download={file.filename ?? "photo"}>Download</a>
        <button type="button" onClick={onClose} autoFocus>Close</button>
      </div>
    </dialog>
  );
}

function Attachment({ file }: { file: MediaFile }) {
  const [viewing, setViewing] = useState(false);
  if (file.status === "pending") return <p className="attachment muted" data-testid="attachment-pending">Receiving {file.kind}…</p>;
  if (file.status === "failed") {
    return <p className="attachment failed" data-testid="attachment-failed">The {file.kind} could not be received{file.error ? `: ${file.error}` : ""}</p>;
  }
  const url = file.url ?? undefined;
  switch (file.kind) {
    case "image":
    case "sticker":
      return (
        <>
          <button type="button" className={`attachment thumb ${file.kind}`} onClick={() => setViewing(true)} aria-label={`Open the ${file.kind}`}>
            <img src={url} alt={file.filename ?? (file.kind === "sticker" ? "Sticker" : "Photo")} loading="lazy" data-testid="attachment-image" />
          </button>
          {viewing && <Viewer file={file} onClose={() => setViewing(false)} />}
        </>
      );
    case "voice":
    case "audio":
      return (
        <figure className="attachment audio">
          <audio controls preload="metadata" src={url} data-testid="attachment-audio" aria-label={file.kind === "voice" ? "Voice note" : "Audio"} />
          {file.transcript && <figcaption className="transcript" data-testid="transcript">“{file.transcript}”</figcaption>}
        </figure>
      );
    case "video":
      return <video className="attachment video" controls preload="metadata" src={url} data-testid="attachment-video" aria-label="Video" />;
    case "location": {
      const place = file.details as unknown as Place;
      return (
        <a className="attachment place" href={mapLink(place.latitude, place.longitude)} target="_blank" rel="noreferrer noopener" data-testid="attachment-location">
          📍 {place.name ?? "Location"}{place.address ? ` · ${place.address}` : ""} <span className="muted">(open map)</span>
        </a>
      );
    }
    case "contact": {
      const card = file.details as unknown as Card;
      return (
        <p className="attachment card" data-testid="attachment-contact">
          👤 {card.name ?? "Contact"}{card.phones && card.phones.length > 0 ? ` · ${card.phones.join(", ")}` : ""}
        </p>
      );
    }
    default:
      return (
        <a className="attachment document" href={url} download={file.filename ?? "file"} data-testid="attachment-document">
          📄 {file.filename ?? "Document"} <span className="muted">{fileSize(file.size_bytes)}</span>
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

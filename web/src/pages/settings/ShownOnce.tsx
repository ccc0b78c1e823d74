// A secret the API returns only when it is created (an API key, a webhook's signing secret):
// shown once with a copy button, and gone when the page changes.
import { CopyButton } from "../../CopyButton";

export function ShownOnce({ label, secret }: { label: string; secret: string }) {
  return (
    <div className="panel shown-once" role="status">
      <p>{label}</p>
      <code data-testid="secret">{secret}</code> <CopyButton value={secret} />
    </div>
  );
}

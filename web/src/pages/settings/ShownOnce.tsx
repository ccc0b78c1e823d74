// A secret the API returns only when it is created (an API key, a webhook's signing secret):
// shown once with a copy button, and gone when the page changes.
import { useState } from "react";
import { useTranslation } from "react-i18next";

export function ShownOnce({ label, secret }: { label: string; secret: string }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(secret).catch(() => undefined);
    setCopied(true);
  };
  return (
    <div className="panel shown-once" role="status">
      <p>{label}</p>
      <code data-testid="secret">{secret}</code>{" "}
      <button type="button" onClick={() => void copy()}>{t("settings.copy")}</button>
      {copied && <span className="muted"> {t("settings.copied")}</span>}
    </div>
  );
}

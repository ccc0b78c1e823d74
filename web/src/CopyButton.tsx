// Copies a value an admin pastes elsewhere (a secret shown once, a webhook URL for WAHA or Meta)
// and says so; where the browser refuses the clipboard the value stays on screen to select.
import { useState } from "react";
import { useTranslation } from "react-i18next";

export function CopyButton({ value, label }: { value: string; label?: string }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(value).catch(() => undefined);
    setCopied(true);
  };
  return (
    <>
      <button type="button" aria-label={label} onClick={() => void copy()}>{t("settings.copy")}</button>
      {copied && <span className="muted" role="status"> {t("settings.copied")}</span>}
    </>
  );
}

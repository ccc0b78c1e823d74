// What an admin pastes into WAHA or Meta's App Dashboard so the provider calls Ventros: the API
// says it per channel (`Channel.webhook`); each value has a copy button.
import { useTranslation } from "react-i18next";
import { CopyButton } from "../../CopyButton";
import type { WebhookSetup } from "../../types";


export function WebhookInstructions({ webhook, verifyToken }: { webhook: WebhookSetup; verifyToken?: string }) {
  const { t } = useTranslation();
  if ("events" in webhook) {
    return (
      <div className="webhook-setup" data-testid="webhook-setup">
        <p className="muted">{t("channelForm.wahaWebhookHint")}</p>
        <dl>
          <dt>{t("channelForm.webhookUrl")}</dt>
          <dd><code>{webhook.url}</code> <CopyButton value={webhook.url} label={t("channelForm.copyUrl")} /></dd>
          <dt>{t("channelForm.events")}</dt>
          <dd><code>{webhook.events.join(", ")}</code></dd>
        </dl>
      </div>
    );
  }
  return (
    <div className="webhook-setup" data-testid="webhook-setup">
      <p className="muted">{t("channelForm.metaWebhookHint", { object: webhook.object })}</p>
      <dl>
        <dt>{t("channelForm.callbackUrl")}</dt>
        <dd><code>{webhook.url}</code> <CopyButton value={webhook.url} label={t("channelForm.copyUrl")} /></dd>
        <dt>{t("channelForm.verifyToken")}</dt>
        <dd>{verifyToken ? <><code>{verifyToken}</code> <CopyButton value={verifyToken} label={t("channelForm.copyToken")} /></> : t("channelForm.verifyTokenKept")}</dd>
        <dt>{t("channelForm.fields")}</dt>
        <dd><code>{webhook.fields.join(", ")}</code></dd>
        <dt>{t("channelForm.signature")}</dt>
        <dd>{t("channelForm.signatureHint", { header: webhook.signature })}</dd>
      </dl>
    </div>
  );
}

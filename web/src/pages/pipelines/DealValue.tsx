// What a deal is worth, on its card: shown in the user's currency format (R$ 1.500,00 / R$1,500.00)
// and set by agents and admins, typed either way. Kept outside the draggable card, so its keys and
// clicks never start a drag.
import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, problemText } from "../../api";
import { money, parseMoney } from "../../format";
import type { Deal } from "../../types";

const CURRENCIES = ["BRL", "USD", "EUR"];

/** The open deals' worth per currency, for a column's header. */
export function total(deals: Deal[]): string {
  const sums = new Map<string, number>();
  for (const d of deals) if (d.value_minor !== null) sums.set(d.currency, (sums.get(d.currency) ?? 0) + d.value_minor);
  return [...sums].map(([currency, minor]) => money(minor, currency)).join(" + ");
}

export function DealValue({ deal, writable, onSaved }: { deal: Deal; writable: boolean; onSaved: () => Promise<void> }) {
  const { t } = useTranslation();
  const [editing, setEditing] = useState(false);
  const [typed, setTyped] = useState("");
  const [currency, setCurrency] = useState(deal.currency);
  const [invalid, setInvalid] = useState(false);
  const save = useMutation({
    mutationFn: (value_minor: number) => api("PATCH", `/deals/${deal.id}`, { value_minor, currency }),
    onSuccess: async () => { setEditing(false); await onSaved(); },
  });
  const label = t("pipelines.valueOf", { title: deal.title });
  if (!editing) {
    return (
      <div className="deal-value">
        {deal.value_minor !== null && <span data-testid="deal-value">{money(deal.value_minor, deal.currency)}</span>}{" "}
        {writable && (
          // The name starts with the words shown (what a voice user says), then says which deal.
          <button type="button" aria-label={deal.value_minor === null ? t("pipelines.setValueOf", { title: deal.title }) : t("pipelines.editValueOf", { title: deal.title })}
            onClick={() => { setTyped(""); setInvalid(false); setEditing(true); }}>
            {deal.value_minor === null ? t("pipelines.setValue") : t("common.edit")}
          </button>
        )}
      </div>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const minor = parseMoney(typed, currency);
    setInvalid(minor === null);
    if (minor !== null) save.mutate(minor);
  };
  return (
    <form className="deal-value-form" onSubmit={submit} aria-label={label}>
      <label>{t("pipelines.value")}<input inputMode="decimal" value={typed} onChange={(e) => setTyped(e.target.value)} aria-invalid={invalid || undefined} required /></label>
      <label>{t("pipelines.currency")}
        <select value={currency} onChange={(e) => setCurrency(e.target.value)}>{CURRENCIES.map((c) => <option key={c} value={c}>{c}</option>)}</select>
      </label>
      {invalid && <p role="alert" className="error">{t("pipelines.badValue")}</p>}
      {save.isError && <p role="alert" className="error">{problemText(save.error)}</p>}
      <button type="submit" disabled={save.isPending}>{t("common.save")}</button>{" "}
      <button type="button" onClick={() => setEditing(false)}>{t("common.cancel")}</button>
    </form>
  );
}

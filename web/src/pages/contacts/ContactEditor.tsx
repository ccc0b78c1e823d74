// Editing a contact (agents and admins): the name, tags, custom attributes and opt-out (a contact
// who opted out gets no campaign messages). One PATCH with what the form holds.
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, problemText } from "../../api";

export interface EditableContact { id: string; display_name: string | null; tags: string[]; custom_attributes: Record<string, unknown>; opted_out_at: string | null }

export function ContactEditor({ contact, onSaved, onCancel }: { contact: EditableContact; onSaved: () => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState(contact.display_name ?? "");
  const [tags, setTags] = useState(contact.tags.join(", "));
  const [attributes, setAttributes] = useState(Object.entries(contact.custom_attributes ?? {}).map(([k, v]) => ({ key: k, value: String(v) })));
  const [optedOut, setOptedOut] = useState(contact.opted_out_at !== null);
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("PATCH", `/contacts/${contact.id}`, {
        display_name: name.trim() || null,
        tags: tags.split(",").map((x) => x.trim()).filter(Boolean),
        custom_attributes: Object.fromEntries(attributes.filter((a) => a.key.trim()).map((a) => [a.key.trim(), a.value])),
        opted_out: optedOut,
      });
      onSaved();
    } catch (err) {
      setError(problemText(err));
    }
  };
  const setAttribute = (i: number, a: Partial<{ key: string; value: string }>) => setAttributes(attributes.map((x, j) => (j === i ? { ...x, ...a } : x)));
  return (
    <form className="stack" onSubmit={(e) => void save(e)} aria-label={t("contactTools.edit")}>
      <label>{t("common.name")}<input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} /></label>
      <label>{t("contactTools.tags")}<input value={tags} onChange={(e) => setTags(e.target.value)} /></label>
      <fieldset>
        <legend>{t("contacts.attributes")}</legend>
        {attributes.map((a, i) => (
          <div key={i} className="inline" role="group" aria-label={t("contactTools.attribute", { n: i + 1 })}>
            <input aria-label={t("contactTools.attributeName")} value={a.key} onChange={(e) => setAttribute(i, { key: e.target.value })} maxLength={100} />
            <input aria-label={t("contactTools.attributeValue")} value={a.value} onChange={(e) => setAttribute(i, { value: e.target.value })} />
            <button type="button" onClick={() => setAttributes(attributes.filter((_, j) => j !== i))}>{t("common.remove")}</button>
          </div>
        ))}
        <div><button type="button" onClick={() => setAttributes([...attributes, { key: "", value: "" }])}>{t("contactTools.addAttribute")}</button></div>
      </fieldset>
      <label className="check"><input type="checkbox" checked={optedOut} onChange={(e) => setOptedOut(e.target.checked)} /> {t("contactTools.optedOut")}</label>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions">
        <button type="submit">{t("common.save")}</button>
        <button type="button" onClick={onCancel}>{t("common.cancel")}</button>
      </div>
    </form>
  );
}

import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, login } from "../api";
import { LanguagePicker } from "../LanguagePicker";

export function Login() {
  const { t } = useTranslation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t("login.wrong") : t("login.unreachable"));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="login" onSubmit={(e) => void submit(e)} aria-label={t("login.form")}>
      <h1>Ventros</h1>
      <LanguagePicker session={null} />
      <label>
        {t("login.email")}
        <input name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        {t("login.password")}
        <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit" disabled={busy}>{busy ? t("login.busy") : t("login.submit")}</button>
    </form>
  );
}

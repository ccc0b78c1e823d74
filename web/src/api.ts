// The API client: the only way the web app reaches Ventros. Access tokens are short-lived; the
// refresh token rotates on every use, so a 401 triggers one refresh and one retry. The refresh
// token lives in an HttpOnly cookie scoped to /api/v1/auth: no script here can read it.

import i18n from "./i18n";

export type Role = "viewer" | "agent" | "admin";

export interface Session {
  accessToken: string;
  role: Role;
  tenantId: string;
  userId: string;
}

const STORAGE_KEY = "ventros.session";

export class ApiError extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
  ) {
    super(`${title}: ${detail}`);
  }
}

let session: Session | null = load();
const listeners = new Set<(s: Session | null) => void>();

function load(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function store(next: Session | null) {
  session = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  listeners.forEach((l) => l(next));
}

export function currentSession(): Session | null {
  return session;
}

export function onSessionChange(listener: (s: Session | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

interface TokenPair {
  access_token: string;
  role: Role;
  tenant_id: string;
  user_id: string;
}

function fromPair(p: TokenPair): Session {
  return { accessToken: p.access_token, role: p.role, tenantId: p.tenant_id, userId: p.user_id };
}

async function problem(resp: Response): Promise<ApiError> {
  let body: { title?: string; detail?: string } = {};
  try {
    body = (await resp.json()) as { title?: string; detail?: string };
  } catch {
    /* not JSON */
  }
  return new ApiError(resp.status, body.title ?? resp.statusText, body.detail ?? "");
}

export async function login(email: string, password: string, tenantId?: string): Promise<Session> {
  const resp = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password, refresh_cookie: true, ...(tenantId ? { tenant_id: tenantId } : {}) }),
  });
  if (!resp.ok) throw await problem(resp);
  const next = fromPair((await resp.json()) as TokenPair);
  store(next);
  return next;
}

/** A call made before anyone is logged in (an invitation link's page): no credential. */
export async function publicPost<T>(path: string, body: unknown): Promise<T> {
  const resp = await fetch(`/api/v1${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!resp.ok) throw await problem(resp);
  return (await resp.json()) as T;
}

export async function logout(): Promise<void> {
  const s = session;
  store(null);
  if (s) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    }).catch(() => undefined);
  }
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const s = session;
  if (!s) return false;
  refreshing ??= (async () => {
    const resp = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (!resp.ok) {
      store(null);
      return false;
    }
    store(fromPair((await resp.json()) as TokenPair));
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const send = () =>
    fetch(`/api/v1${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(session ? { Authorization: `Bearer ${session.accessToken}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let resp = await send();
  if (resp.status === 401 && (await refresh())) resp = await send();
  if (!resp.ok) throw await problem(resp);
  if (resp.status === 204) return undefined as T;
  return (await resp.json()) as T;
}

/** Uploads a file to send (`POST /api/v1/media`: the raw bytes, typed by the browser). */
export async function upload<T = unknown>(file: File, voice = false): Promise<T> {
  const query = new URLSearchParams({ filename: file.name });
  if (voice) query.set("voice", "true");
  const send = () =>
    fetch(`/api/v1/media?${query.toString()}`, {
      method: "POST",
      headers: {
        "Content-Type": file.type || "application/octet-stream",
        ...(session ? { Authorization: `Bearer ${session.accessToken}` } : {}),
      },
      body: file,
    });
  let resp = await send();
  if (resp.status === 401 && (await refresh())) resp = await send();
  if (resp.status === 413) throw new ApiError(413, i18n.t("errors.tooLarge"), i18n.t("errors.tooLargeDetail"));
  if (!resp.ok) throw await problem(resp);
  return (await resp.json()) as T;
}

export const get = <T = unknown>(path: string) => api<T>("GET", path);
export const post = <T = unknown>(path: string, body: unknown = {}, headers: Record<string, string> = {}) => api<T>("POST", path, body, headers);

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export function canWrite(role: Role | undefined): boolean {
  return role === "agent" || role === "admin";
}

/** What went wrong, for a person: the kind of failure in their language, then the API's words
 * (which name the field or rule, in English: the API's documented contract). */
export function problemText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const kind =
    e.status === 403 ? i18n.t("errors.forbidden")
    : e.status === 404 ? i18n.t("errors.notFound")
    : e.status === 409 ? i18n.t("errors.conflict")
    : e.status === 413 ? i18n.t("errors.tooLarge")
    : e.status === 422 || e.status === 400 ? i18n.t("errors.invalid")
    : e.status === 429 ? i18n.t("errors.tooMany")
    : e.status >= 500 ? i18n.t("errors.server")
    : e.title;
  return e.detail ? `${kind}: ${e.detail}` : kind;
}

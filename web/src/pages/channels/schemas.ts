// What the API accepts for a channel's provider settings and campaign pacing, checked in the form
// before anything is sent (the API checks again and stays the authority): the same rules as
// `WahaConfig::validate`, `MetaConfig::validate` and `CampaignPacing::validate` in
// channels/src. Each failure names a message key under `channelForm.invalid`.
import { z } from "zod";

export type Invalid = "url" | "apiKey" | "session" | "hmacKey" | "pageId" | "accessToken" | "appSecret" | "verifyToken" | "apiVersion" | "interval" | "order" | "cap" | "name";

const err = (key: Invalid) => ({ error: key });

/** An http(s) address, as the API's `starts_with("http(s)://")` and length check. */
const httpUrl = z.string().trim().regex(/^https?:\/\/.{3,}/, err("url"));

export const channelName = z.string().trim().min(1, err("name")).max(200, err("name"));

export const wahaConfig = z.object({
  base_url: httpUrl,
  api_key: z.string().min(1, err("apiKey")),
  // The session name goes into WAHA's URL paths.
  session: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, err("session")),
  hmac_key: z.string().min(16, err("hmacKey")),
});

export const metaConfig = z.object({
  page_id: z.string().regex(/^\d{1,64}$/, err("pageId")),
  access_token: z.string().min(8, err("accessToken")),
  app_secret: z.string().min(16, err("appSecret")),
  verify_token: z.string().min(1, err("verifyToken")).max(200, err("verifyToken")),
  graph_base_url: httpUrl,
  api_version: z.string().regex(/^v.{0,9}$/, err("apiVersion")),
});

const seconds = z.number().int(err("interval")).min(0, err("interval")).max(3600, err("interval"));

export const campaignPacing = z
  .object({
    min_interval_secs: seconds,
    max_interval_secs: seconds,
    daily_cap: z.number().int(err("cap")).min(1, err("cap")).max(100_000, err("cap")).nullable(),
    typing: z.boolean(),
  })
  .refine((p) => p.min_interval_secs <= p.max_interval_secs, { ...err("order"), path: ["max_interval_secs"] });

/** The first problem per field, as message keys (for the form to show beside each field). */
export function problems(result: z.ZodSafeParseResult<unknown>): Partial<Record<string, Invalid>> {
  if (result.success) return {};
  const out: Partial<Record<string, Invalid>> = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? "");
    out[field] ??= issue.message as Invalid;
  }
  return out;
}

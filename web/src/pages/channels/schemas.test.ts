import { describe, expect, it } from "vitest";
import { campaignPacing, metaConfig, problems, wahaConfig } from "./schemas";

const waha = { base_url: "https://waha.example.com", api_key: "k", session: "default", hmac_key: "0123456789abcdef" };
const meta = { page_id: "1234567890", access_token: "EAAG1234", app_secret: "0123456789abcdef", verify_token: "t", graph_base_url: "https://graph.facebook.com", api_version: "v21.0" };

describe("channel schemas mirror the API's rules", () => {
  it("accepts what the API accepts", () => {
    expect(wahaConfig.safeParse(waha).success).toBe(true);
    expect(metaConfig.safeParse(meta).success).toBe(true);
    expect(campaignPacing.safeParse({ min_interval_secs: 0, max_interval_secs: 3600, daily_cap: null, typing: true }).success).toBe(true);
    expect(campaignPacing.safeParse({ min_interval_secs: 5, max_interval_secs: 5, daily_cap: 100_000, typing: false }).success).toBe(true);
  });

  it("names the field and the rule for what the API refuses", () => {
    expect(problems(wahaConfig.safeParse({ ...waha, base_url: "waha.example.com" }))).toEqual({ base_url: "url" });
    expect(problems(wahaConfig.safeParse({ ...waha, session: "../etc" }))).toEqual({ session: "session" });
    expect(problems(wahaConfig.safeParse({ ...waha, session: "s".repeat(65) }))).toEqual({ session: "session" });
    expect(problems(wahaConfig.safeParse({ ...waha, hmac_key: "0123456789abcde", api_key: "" }))).toEqual({ hmac_key: "hmacKey", api_key: "apiKey" });
    expect(problems(metaConfig.safeParse({ ...meta, page_id: "my-page" }))).toEqual({ page_id: "pageId" });
    expect(problems(metaConfig.safeParse({ ...meta, access_token: "short" }))).toEqual({ access_token: "accessToken" });
    expect(problems(metaConfig.safeParse({ ...meta, app_secret: "x".repeat(15) }))).toEqual({ app_secret: "appSecret" });
    expect(problems(metaConfig.safeParse({ ...meta, verify_token: "" }))).toEqual({ verify_token: "verifyToken" });
    expect(problems(metaConfig.safeParse({ ...meta, verify_token: "v".repeat(201) }))).toEqual({ verify_token: "verifyToken" });
    expect(problems(metaConfig.safeParse({ ...meta, api_version: "21.0" }))).toEqual({ api_version: "apiVersion" });
    expect(problems(campaignPacing.safeParse({ min_interval_secs: 30, max_interval_secs: 10, daily_cap: null, typing: true }))).toEqual({ max_interval_secs: "order" });
    expect(problems(campaignPacing.safeParse({ min_interval_secs: 0, max_interval_secs: 3601, daily_cap: null, typing: true }))).toEqual({ max_interval_secs: "interval" });
    expect(problems(campaignPacing.safeParse({ min_interval_secs: 0, max_interval_secs: 10, daily_cap: 0, typing: true }))).toEqual({ daily_cap: "cap" });
  });
});

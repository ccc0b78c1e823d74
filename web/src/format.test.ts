import { describe, expect, it } from "vitest";
import { channelLabel, fileSize, mapLink, ticks, touches } from "./format";
import { streamUrl } from "./live";

describe("ticks", () => {
  it("follow the delivery status forward and flag failures", () => {
    expect(ticks("sent").symbol).toBe("✓");
    expect(ticks("delivered")).toMatchObject({ symbol: "✓✓", tone: "muted" });
    expect(ticks("read")).toMatchObject({ symbol: "✓✓", tone: "read" });
    expect(ticks("failed").tone).toBe("failed");
    expect(ticks("undelivered").tone).toBe("failed");
  });
});

describe("live events", () => {
  it("refresh a conversation only for its own messages, sessions and status changes", () => {
    const received = { type: "message.received", data: { session_id: "a" } };
    expect(touches(received, "a")).toBe(true);
    expect(touches(received, "b")).toBe(false);
    expect(touches({ type: "message.status_changed", data: { message_id: "m" } }, "b")).toBe(true);
    expect(touches({ type: "deal.created", data: {} }, null)).toBe(false);
    expect(touches(received, null)).toBe(true);
  });

  it("resume from the last event seen", () => {
    expect(streamUrl("https://crm.example", "t k", null)).toBe("wss://crm.example/api/v1/stream?access_token=t%20k");
    expect(streamUrl("http://127.0.0.1:8080", "k", 42)).toBe("ws://127.0.0.1:8080/api/v1/stream?access_token=k&last_event_id=42");
  });
});

describe("channels", () => {
  it("have their product names", () => {
    expect(channelLabel("waha")).toBe("WhatsApp");
    expect(channelLabel("instagram")).toBe("Instagram");
  });
});

import { circleLayout } from "./format";

describe("graph layout", () => {
  it("spreads entities evenly, the first on top", () => {
    expect(circleLayout(1, 100, 50)).toEqual([{ x: 100, y: 100 }]);
    const four = circleLayout(4, 100, 50);
    expect(four[0]).toEqual({ x: 100, y: 50 });
    expect(four[2]).toEqual({ x: 100, y: 150 });
    expect(new Set(four.map((p) => `${p.x},${p.y}`)).size).toBe(4);
  });
});

import { identityLabel } from "./format";

describe("identities", () => {
  it("name their channel", () => {
    expect(identityLabel("psid")).toBe("Messenger");
    expect(identityLabel("wa_user")).toBe("WhatsApp");
  });
});

describe("files and places", () => {
  it("sizes read like a person would say them", () => {
    expect(fileSize(812)).toBe("812 B");
    expect(fileSize(14 * 1024 + 100)).toBe("14 KB");
    expect(fileSize(3.24 * 1024 * 1024)).toBe("3.2 MB");
    expect(fileSize(null)).toBe("");
  });
  it("a location opens on the map at its coordinates", () => {
    expect(mapLink(-23.5614, -46.6559)).toBe("https://www.openstreetmap.org/?mlat=-23.561400&mlon=-46.655900#map=17/-23.561400/-46.655900");
  });
});

describe("money", () => {
  it("is written in the language's way and typed either way", async () => {
    const { money, parseMoney } = await import("./format");
    const i18n = (await import("./i18n")).default;
    await i18n.changeLanguage("pt-BR");
    expect(money(150050, "BRL").replace(/\s/g, " ")).toBe("R$ 1.500,50");
    await i18n.changeLanguage("en");
    expect(money(150050, "BRL")).toBe("R$1,500.50");
    expect(money(1500, "JPY")).toBe("¥1,500");
    expect(parseMoney("1500,5", "BRL")).toBe(150050);
    expect(parseMoney("1.500,50", "BRL")).toBe(150050);
    expect(parseMoney("1,500.50", "BRL")).toBe(150050);
    expect(parseMoney("1500", "BRL")).toBe(150000);
    expect(parseMoney("1.500", "BRL")).toBe(150000);
    expect(parseMoney("R$ 10", "BRL")).toBeNull();
    expect(parseMoney("-5", "BRL")).toBeNull();
    expect(parseMoney("1500", "JPY")).toBe(1500);
  });
});

import { describe, expect, it } from "vitest";
import { emptyDraft, segmentFilter, toDraft, toFilter } from "./segmentFilter";

describe("segment filters", () => {
  it("sends only what is set, and reads back what it sent", () => {
    expect(toFilter(emptyDraft())).toEqual({});
    const draft = { ...emptyDraft(), tags_all: " vip, sp ,", tags_none: "churned", attributes: [{ key: "plano", value: "pro" }, { key: " ", value: "x" }], after: "2026-03-01", include_opted_out: true };
    const filter = toFilter(draft);
    expect(filter).toMatchObject({ tags_all: ["vip", "sp"], tags_none: ["churned"], attributes: { plano: "pro" }, include_opted_out: true });
    expect(new Date(filter.last_activity_after!).getDate()).toBe(1);
    expect(toDraft(filter)).toEqual({ ...draft, tags_all: "vip, sp", attributes: [{ key: "plano", value: "pro" }] });
  });

  it("keeps numbers and booleans saved through the API as they were", () => {
    const saved = { attributes: { pedidos: 3, vip: true, cidade: "Recife" } };
    expect(toFilter(toDraft(segmentFilter.parse(saved)))).toEqual(saved);
  });

  it("refuses what the API refuses", () => {
    const message = (f: unknown) => segmentFilter.safeParse(f).error?.issues[0]?.message;
    expect(message({ tags_all: ["vip"], tags_none: ["vip"] })).toBe("tagBoth");
    expect(message({ tags_any: ["x".repeat(65)] })).toBe("tag");
    expect(message({ tags_any: Array.from({ length: 51 }, (_, i) => `t${i}`) })).toBe("tooManyTags");
    expect(message({ last_activity_after: "2026-03-02T00:00:00Z", last_activity_before: "2026-03-01T00:00:00Z" })).toBe("dates");
    expect(message({ attributes: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])) })).toBe("attribute");
    expect(segmentFilter.safeParse({ tags_all: ["vip"], attributes: { plano: "pro" } }).success).toBe(true);
  });
});

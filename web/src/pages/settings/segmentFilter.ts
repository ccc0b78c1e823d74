// A segment's filter as the form edits it, and the filter the API takes: the same rules as
// `SegmentFilter::validate` (activities/src/segments.rs), checked before the live preview asks.
import { z } from "zod";

export type FilterInvalid = "tag" | "tooManyTags" | "tagBoth" | "attribute" | "dates";

const tag = z.string().trim().min(1, { error: "tag" }).max(64, { error: "tag" });

export const segmentFilter = z
  .object({
    tags_all: z.array(tag).optional(),
    tags_any: z.array(tag).optional(),
    tags_none: z.array(tag).optional(),
    // Strings, numbers or booleans, as the API takes them (a contact's attribute 3 is not "3").
    attributes: z.record(z.string().min(1, { error: "attribute" }).max(64, { error: "attribute" }), z.union([z.string(), z.number(), z.boolean()])).optional(),
    pipeline_stage_ids: z.array(z.uuid()).max(50).optional(),
    last_activity_after: z.iso.datetime({ offset: true }).optional(),
    last_activity_before: z.iso.datetime({ offset: true }).optional(),
    channel_id: z.uuid().optional(),
    include_opted_out: z.boolean().optional(),
  })
  .superRefine((f, ctx) => {
    const all = f.tags_all ?? [];
    const none = f.tags_none ?? [];
    if (all.length + (f.tags_any ?? []).length + none.length > 50) ctx.addIssue({ code: "custom", message: "tooManyTags", path: ["tags_all"] });
    if (all.some((t) => none.includes(t))) ctx.addIssue({ code: "custom", message: "tagBoth", path: ["tags_none"] });
    if (Object.keys(f.attributes ?? {}).length > 20) ctx.addIssue({ code: "custom", message: "attribute", path: ["attributes"] });
    if (f.last_activity_after && f.last_activity_before && f.last_activity_after >= f.last_activity_before) {
      ctx.addIssue({ code: "custom", message: "dates", path: ["last_activity_before"] });
    }
  });

export type SegmentFilter = z.infer<typeof segmentFilter>;

/** What the builder shows: tags as typed (comma-separated), attributes as rows, days as dates. */
export interface FilterDraft {
  tags_all: string;
  tags_any: string;
  tags_none: string;
  /** Each row keeps the kind of value it was saved with; new rows are text. */
  attributes: { key: string; value: string; kind?: "number" | "boolean" }[];
  stages: string[];
  after: string;
  before: string;
  channel_id: string;
  include_opted_out: boolean;
}

export const emptyDraft = (): FilterDraft => ({
  tags_all: "", tags_any: "", tags_none: "", attributes: [], stages: [], after: "", before: "", channel_id: "", include_opted_out: false,
});

/** A row's value in the kind it was saved with, while it still reads as one. */
function typed(a: FilterDraft["attributes"][number]): string | number | boolean {
  if (a.kind === "number" && a.value.trim() !== "" && Number.isFinite(Number(a.value))) return Number(a.value);
  if (a.kind === "boolean" && (a.value === "true" || a.value === "false")) return a.value === "true";
  return a.value;
}

const list = (typed: string) => typed.split(",").map((t) => t.trim()).filter((t) => t !== "");

/** The local day's start as an instant: "active since 1 March" means since the user's 1 March. */
const dayStart = (day: string) => new Date(`${day}T00:00:00`).toISOString();

/** The filter for the API (only what is set), from what the builder holds. */
export function toFilter(d: FilterDraft): SegmentFilter {
  const f: SegmentFilter = {};
  if (list(d.tags_all).length) f.tags_all = list(d.tags_all);
  if (list(d.tags_any).length) f.tags_any = list(d.tags_any);
  if (list(d.tags_none).length) f.tags_none = list(d.tags_none);
  const rows = d.attributes.filter((a) => a.key.trim() !== "");
  if (rows.length) f.attributes = Object.fromEntries(rows.map((a) => [a.key.trim(), typed(a)]));
  if (d.stages.length) f.pipeline_stage_ids = d.stages;
  if (d.after) f.last_activity_after = dayStart(d.after);
  if (d.before) f.last_activity_before = dayStart(d.before);
  if (d.channel_id) f.channel_id = d.channel_id;
  if (d.include_opted_out) f.include_opted_out = true;
  return f;
}

const localDay = (iso: string) => {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};

/** The builder's view of a saved filter (what `toFilter` makes, read back). */
export function toDraft(f: SegmentFilter): FilterDraft {
  return {
    tags_all: (f.tags_all ?? []).join(", "),
    tags_any: (f.tags_any ?? []).join(", "),
    tags_none: (f.tags_none ?? []).join(", "),
    attributes: Object.entries(f.attributes ?? {}).map(([key, value]) =>
      typeof value === "string" ? { key, value } : { key, value: String(value), kind: typeof value === "number" ? ("number" as const) : ("boolean" as const) }),
    stages: f.pipeline_stage_ids ?? [],
    after: f.last_activity_after ? localDay(f.last_activity_after) : "",
    before: f.last_activity_before ? localDay(f.last_activity_before) : "",
    channel_id: f.channel_id ?? "",
    include_opted_out: !!f.include_opted_out,
  };
}

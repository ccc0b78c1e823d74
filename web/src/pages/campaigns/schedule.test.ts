import { describe, expect, it } from "vitest";
import { nextRuns, toApiSchedule, type ScheduleForm } from "./schedule";

const form = (over: Partial<ScheduleForm>): ScheduleForm => ({ kind: "now", at: "", expression: "", every: "1", unit: "days", ...over });
const now = new Date("2026-12-03T22:00:00Z");

describe("campaign schedules", () => {
  it("run a cron expression in the campaign's time zone", () => {
    const result = nextRuns(form({ kind: "cron", expression: "0 9 * * MON" }), "America/Sao_Paulo", now, 3);
    expect(result).toEqual({ runs: [new Date("2026-12-07T12:00:00Z"), new Date("2026-12-14T12:00:00Z"), new Date("2026-12-21T12:00:00Z")] });
    expect(nextRuns(form({ kind: "cron", expression: "@daily" }), "UTC", now, 1)).toEqual({ runs: [new Date("2026-12-04T00:00:00Z")] });
  });

  it("refuse what the API would refuse: a value out of range, six fields, nonsense", () => {
    for (const expression of ["61 * * * *", "0 0 9 * * MON", "every monday", ""]) {
      expect(nextRuns(form({ kind: "cron", expression }), "UTC", now)).toEqual({ error: "cron" });
    }
  });

  it("repeat an interval from now, at least a minute apart", () => {
    expect(nextRuns(form({ kind: "interval", every: "6", unit: "hours" }), "UTC", now, 2)).toEqual({ runs: [now, new Date("2026-12-04T04:00:00Z")] });
    expect(nextRuns(form({ kind: "interval", every: "0", unit: "hours" }), "UTC", now)).toEqual({ error: "interval" });
    expect(toApiSchedule(form({ kind: "interval", every: "2", unit: "days" }))).toEqual({ kind: "interval", every_seconds: 172_800 });
  });

  it("send the API its own shapes", () => {
    expect(toApiSchedule(form({ kind: "now" }))).toEqual({ kind: "now" });
    expect(toApiSchedule(form({ kind: "cron", expression: " 0 9 * * 1 " }))).toEqual({ kind: "cron", expression: "0 9 * * 1" });
    expect(toApiSchedule(form({ kind: "once", at: "2026-12-24T10:00:00Z" }))).toEqual({ kind: "once", at: "2026-12-24T10:00:00.000Z" });
  });
});

// A campaign's schedule as the form holds it, the API's shape for it, and the next runs it would
// have (shown before scheduling). Cron expressions are read by cron-parser in the campaign's time
// zone; the API checks them again with the parser Temporal's schedules are built from.
import { CronExpressionParser } from "cron-parser";

export type ScheduleKind = "now" | "once" | "cron" | "interval";

export interface ScheduleForm {
  kind: ScheduleKind;
  /** `datetime-local` value (the browser's zone), for `once`. */
  at: string;
  expression: string;
  every: string;
  unit: "hours" | "days";
}

export type ApiSchedule =
  | { kind: "now" }
  | { kind: "once"; at: string }
  | { kind: "cron"; expression: string }
  | { kind: "interval"; every_seconds: number };

export function everySeconds(form: ScheduleForm): number {
  return Math.round(Number(form.every) * (form.unit === "days" ? 86_400 : 3_600));
}

export function toApiSchedule(form: ScheduleForm): ApiSchedule {
  switch (form.kind) {
    case "now":
      return { kind: "now" };
    case "once":
      return { kind: "once", at: new Date(form.at).toISOString() };
    case "cron":
      return { kind: "cron", expression: form.expression.trim() };
    case "interval":
      return { kind: "interval", every_seconds: everySeconds(form) };
  }
}

/** The next `n` runs after `now`, or why there are none (the parser's words for a bad expression). */
export function nextRuns(form: ScheduleForm, timeZone: string, now: Date, n = 5): { runs: Date[] } | { error: string } {
  switch (form.kind) {
    case "now":
      return { runs: [now] };
    case "once": {
      const at = new Date(form.at);
      return Number.isNaN(at.getTime()) ? { runs: [] } : { runs: [at] };
    }
    case "interval": {
      const step = everySeconds(form);
      if (!Number.isFinite(step) || step < 60) return { error: "interval" };
      return { runs: Array.from({ length: n }, (_, i) => new Date(now.getTime() + i * step * 1000)) };
    }
    case "cron": {
      const expression = form.expression.trim();
      const fields = expression.split(/\s+/).length;
      if (!(fields === 5 || (fields === 1 && expression.startsWith("@")))) return { error: "cron" };
      try {
        const runs = CronExpressionParser.parse(expression, { tz: timeZone, currentDate: now });
        return { runs: runs.take(n).map((d) => d.toDate()) };
      } catch {
        return { error: "cron" };
      }
    }
  }
}

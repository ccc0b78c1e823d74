import { describe, expect, it } from "vitest";
import { snoozeTimes } from "./ConversationActions";

describe("snoozeTimes", () => {
  it("offers an hour, tomorrow morning and next Monday morning, all in the future", () => {
    // A Friday afternoon.
    const now = new Date(2026, 11, 4, 15, 30);
    const [hour, tomorrow, monday] = snoozeTimes(now);
    expect(hour.until.getTime() - now.getTime()).toBe(60 * 60 * 1000);
    expect([tomorrow.until.getDate(), tomorrow.until.getHours()]).toEqual([5, 9]);
    expect([monday.until.getDay(), monday.until.getDate(), monday.until.getHours()]).toEqual([1, 7, 9]);
  });

  it("on a Monday, next Monday is a week ahead", () => {
    const monday = new Date(2026, 11, 7, 8, 0);
    expect(snoozeTimes(monday)[2].until.getDate()).toBe(14);
  });
});

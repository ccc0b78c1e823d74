// What the API accepts for a new user or invitation (`valid_email`, `required_text(name, 200)` and
// `validate_password` in api/src), checked in the form first so each problem is said in the
// user's language beside its field; the API checks again.
import { z } from "zod";

export type UserInvalid = "email" | "name" | "password";

export const email = z
  .string()
  .trim()
  .max(320, { error: "email" })
  .regex(/^[^\s@]+@(?!\.)[^\s@]*\.[^\s@]*[^\s@.]$/, { error: "email" });
export const name = z.string().trim().min(1, { error: "name" }).max(200, { error: "name" });
export const password = z.string().refine((p) => [...p].length >= 10 && [...p].length <= 200, { error: "password" });

export const newUser = z.object({ name, email, password });
export const invitation = z.object({ name, email });

/** Each field's first problem. */
export function userProblems(result: z.ZodSafeParseResult<unknown>): Partial<Record<string, UserInvalid>> {
  const out: Partial<Record<string, UserInvalid>> = {};
  if (!result.success) for (const issue of result.error.issues) out[String(issue.path[0])] ??= issue.message as UserInvalid;
  return out;
}

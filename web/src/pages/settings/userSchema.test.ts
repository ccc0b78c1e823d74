import { describe, expect, it } from "vitest";
import { invitation, newUser, userProblems } from "./userSchema";

describe("new users and invitations", () => {
  it("accept what the API accepts and name what it refuses", () => {
    expect(newUser.safeParse({ name: "Ana", email: "ana@loja.com.br", password: "dez letras" }).success).toBe(true);
    expect(userProblems(newUser.safeParse({ name: " ", email: "ana@loja", password: "curta" }))).toEqual({ name: "name", email: "email", password: "password" });
    expect(userProblems(invitation.safeParse({ name: "Ana", email: "ana@.com" }))).toEqual({ email: "email" });
    expect(userProblems(invitation.safeParse({ name: "Ana", email: "ana@loja.com." }))).toEqual({ email: "email" });
    expect(userProblems(invitation.safeParse({ name: "x".repeat(201), email: "a b@loja.com" }))).toEqual({ name: "name", email: "email" });
    expect(newUser.safeParse({ name: "Ana", email: "ana@loja.com", password: "é".repeat(10) }).success).toBe(true);
  });
});

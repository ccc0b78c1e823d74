import { describe, expect, it } from "vitest";
import { keyFor } from "./stageKey";

describe("stage keys from names", () => {
  it("keeps what the API accepts", () => {
    expect(keyFor("Negociação final")).toBe("negociacao_final");
    expect(keyFor("  Pós-venda (2ª etapa) ")).toBe("pos_venda_2a_etapa");
    expect(keyFor("Contrato assinado!")).toMatch(/^[a-z0-9_]{1,40}$/);
    expect(keyFor("x".repeat(60))).toHaveLength(40);
  });
});

import { describe, expect, it } from "vitest";
import { contactsCsv, parseContacts } from "./csv";

describe("contacts in CSV", () => {
  it("read names, tags and every other column as an attribute, with spreadsheet line numbers", () => {
    const rows = parseContacts('Name,Tags,Cidade\nAna Souza,vip;sabado,Recife\n"Silva, Bruno",,"São Paulo"\n');
    expect(rows).toEqual([
      { line: 2, body: { display_name: "Ana Souza", tags: ["vip", "sabado"], custom_attributes: { cidade: "Recife" } } },
      { line: 3, body: { display_name: "Silva, Bruno", tags: [], custom_attributes: { cidade: "São Paulo" } } },
    ]);
  });

  it("write what they read", () => {
    const csv = contactsCsv([{ id: "1", display_name: "Silva, Bruno", tags: ["a", "b"], custom_attributes: { cidade: "Recife" } }]);
    expect(csv.split("\r\n")).toEqual(["id,name,tags,cidade", '1,"Silva, Bruno",a;b,Recife']);
    expect(parseContacts(csv)[0].body).toEqual({ display_name: "Silva, Bruno", tags: ["a", "b"], custom_attributes: { cidade: "Recife" } });
  });
});

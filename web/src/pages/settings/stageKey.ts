// Stage keys are what reports, segments and the API name a stage by (`a-z`, `0-9`, `_`, at most
// 40): made from the name an admin types, Portuguese accents included, unless they type one.

/** "Negociação final" → "negociacao_final". */
export function keyFor(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 40);
}

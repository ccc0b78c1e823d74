// The missing-translation test: both catalogues say something for every key, with the same
// placeholders, Portuguese is not English copied over, and no screen shows a word that does not
// come from a catalogue (ESLint's i18next/no-literal-string over every page, with the rule the
// lint step uses, checked here to fail on an untranslated string).
import { ESLint } from "eslint";
import i18nextPlugin from "eslint-plugin-i18next";
import { parser } from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { untranslatedText } from "../../eslint.config.js";
import { en } from "./en";
import { browserLocale } from "./index";
import { ptBR } from "./pt-BR";

type Tree = { [key: string]: string | Tree };

function leaves(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string") out.set(path, value);
    else for (const [k, v] of leaves(value, path)) out.set(k, v);
  }
  return out;
}

const placeholders = (text: string) => [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();

// Words that are the same in both languages (names, units, loanwords Brazilians use).
const SAME_IN_BOTH = new Set(["login.email", "format.waHidden", "dashboard.seconds", "pacing.minutes", "pacing.hours", "pacing.noTyping", "attachments.kinds.video", "conversation.workflow", "tickets.byAgent", "dashboard.firstP90", "settings.webhooks", "settings.email"]);

describe("catalogues", () => {
  const english = leaves(en);
  const portuguese = leaves(ptBR);

  it("have the same keys", () => {
    expect([...portuguese.keys()].sort()).toEqual([...english.keys()].sort());
  });

  it("say something for every key, with the same placeholders", () => {
    for (const [key, text] of english) {
      expect(text.trim(), key).not.toBe("");
      expect(portuguese.get(key)?.trim(), key).not.toBe("");
      expect(placeholders(portuguese.get(key) ?? ""), key).toEqual(placeholders(text));
    }
  });

  it("translate rather than copy", () => {
    const copied = [...english].filter(([key, text]) => portuguese.get(key) === text && !SAME_IN_BOTH.has(key)).map(([key]) => key);
    expect(copied).toEqual([]);
  });
});

describe("the browser's language", () => {
  it("is the default: any Portuguese reads Brazilian Portuguese, else English", () => {
    expect(browserLocale(["pt-BR", "en"])).toBe("pt-BR");
    expect(browserLocale(["pt-PT"])).toBe("pt-BR");
    expect(browserLocale(["en-US", "pt-BR"])).toBe("en");
    expect(browserLocale(["es-AR", "pt-BR"])).toBe("pt-BR");
    expect(browserLocale(["de-DE"])).toBe("en");
    expect(browserLocale([])).toBe("en");
  });
});

describe("untranslated text", () => {
  const eslint = new ESLint({
    cwd: new URL("../..", import.meta.url).pathname,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ["**/*.tsx"],
        languageOptions: { parser, parserOptions: { ecmaFeatures: { jsx: true } } },
        plugins: { i18next: i18nextPlugin },
        rules: untranslatedText,
      },
    ],
  });

  it("is caught by the rule (a word in JSX, an aria-label, a placeholder)", async () => {
    const [result] = await eslint.lintText(
      'export function Probe() { return <div aria-label="Inbox"><p>Hello</p><input placeholder="Search" /><b>WhatsApp</b><i>42 · 7%</i></div>; }',
      { filePath: "src/pages/Probe.tsx" },
    );
    expect(result.messages.map((m) => m.message)).toEqual([
      expect.stringContaining("Inbox"),
      expect.stringContaining("Hello"),
      expect.stringContaining("Search"),
    ]);
  });

  it("is nowhere in the app", async () => {
    const results = await eslint.lintFiles(["src/**/*.tsx"]);
    const found = results.flatMap((r) => r.messages.map((m) => `${r.filePath.split("/src/")[1]}:${m.line}: ${m.message}`));
    expect(results.length).toBeGreaterThan(15);
    expect(found).toEqual([]);
  });
});

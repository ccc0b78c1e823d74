// ESLint for the web app (run by the test command: `npm run lint`). Type-aware typescript-eslint
// rules catch what tsc does not: floating promises, misused async handlers, hooks rules.
import js from "@eslint/js";
import i18next from "eslint-plugin-i18next";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

/** Words a person reads must come from the catalogues (src/i18n): text in JSX and the
 * attributes that are read aloud or shown. Brand names and symbols are not words to translate. */
export const untranslatedText = {
  "i18next/no-literal-string": [
    "error",
    {
      mode: "jsx-only",
      "jsx-attributes": { include: ["alt", "aria-label", "aria-description", "label", "placeholder", "title"] },
      words: { exclude: ["[0-9!-/:-@[-`{-~\\s·×–—…“”→📎📍👤📄🕓✓⠿]+", "https?://\\S+", "Ventros", "WhatsApp", "Messenger", "Instagram"] },
    },
  ],
};

export default tseslint.config(
  { ignores: ["dist", "node_modules"] },
  {
    files: ["src/**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "react-hooks": reactHooks, i18next },
    // The classic hooks rules; the React Compiler's rules (set-state-in-effect, refs, ...) are
    // for apps built with the compiler, which this one is not.
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error",
      ...untranslatedText,
    },
  },
  {
    files: ["*.config.{js,ts}"],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    // Node drives the browser; the functions it hands to page.evaluate run in the page.
    files: ["e2e/**/*.{js,mjs}"],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);

// Types for what eslint.config.js exports (the missing-translation test imports its rule).
import type { Linter } from "eslint";

export const untranslatedText: Linter.RulesRecord;
declare const config: Linter.Config[];
export default config;

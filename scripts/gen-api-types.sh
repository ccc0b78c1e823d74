#!/usr/bin/env bash
# Regenerates what the web app reads from the API's OpenAPI document:
#   web/src/generated/openapi.json  a copy of the document (the API crate's test checks it is current)
#   web/src/generated/api.ts        its TypeScript types (openapi-typescript; the test command checks them)
#   mcp/src/generated/tool_schemas.json  the MCP tools' input schemas (the MCP crate's test checks them)
# Run after changing a request or response type, then commit both files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENTROS_UPDATE_GENERATED=1 cargo test -q -p ventros-api --lib openapi::tests::the_web_apps_copy_of_the_document_is_current >/dev/null
VENTROS_UPDATE_GENERATED=1 cargo test -q -p ventros-mcp --lib schemas::tests::the_tool_schemas_are_current >/dev/null
cd web
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent gen:api
echo "regenerated web/src/generated/{openapi.json,api.ts} and mcp/src/generated/tool_schemas.json"

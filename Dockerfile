# Builds the Ventros binaries once and ships each process in a slim image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 ventros
USER ventros

FROM runtime AS worker
COPY --from=build /src/target/release/ventros-worker /usr/local/bin/ventros-worker
ENTRYPOINT ["/usr/local/bin/ventros-worker"]

FROM runtime AS api
COPY --from=build /src/target/release/ventros-api /src/target/release/ventros-admin /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ventros-api"]

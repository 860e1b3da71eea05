# Build and run Tessera. Used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY assets assets
RUN cargo build --release --locked --bin tessera

FROM debian:bookworm-slim
# CA certificates: the console's Jira test calls https:// Jira URLs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
ENV TESSERA_BIND=0.0.0.0:8080 TESSERA_MANAGEMENT_BIND=0.0.0.0:9464 TESSERA_DATA_DIR=/var/lib/tessera
EXPOSE 8080 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["tessera", "healthcheck"]
ENTRYPOINT ["tessera"]
CMD ["serve"]

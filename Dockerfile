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
RUN useradd --system --home /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
ENV TESSERA_BIND=0.0.0.0:8080 TESSERA_DATA_DIR=/var/lib/tessera
EXPOSE 8080
ENTRYPOINT ["tessera"]
CMD ["serve"]

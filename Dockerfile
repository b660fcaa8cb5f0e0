# syntax=docker/dockerfile:1
# wsprobe: multi-stage build. The builder matches rust-version in Cargo.toml; the runtime image
# has the binary and CA certificates (for wss:// and https:// probes and collectors), nothing else.
#
#   docker build -t wsprobe .
#   docker run -v "$PWD/probes.yaml:/etc/wsprobe/probes.yaml:ro" -v wsprobe-data:/var/lib/wsprobe \
#     -p 8080:8080 wsprobe
#
# The config must set `server.listen: "0.0.0.0:8080"` (127.0.0.1 is unreachable from outside
# the container) and `storage.path` under /var/lib/wsprobe.

FROM rust:1.94-slim-trixie AS build
WORKDIR /src
# Everything the build reads, nothing else (see .dockerignore): the manifest and lockfile, the
# build script, the migrations embedded by sqlx::migrate!, the bundled demo config and the code.
COPY Cargo.toml Cargo.lock build.rs probes.yaml ./
COPY migrations ./migrations
COPY src ./src
# The image has no .git: the commit --version names comes in as a build argument
# (docker build --build-arg WSPROBE_COMMIT=$(git rev-parse --short=12 HEAD) .).
ARG WSPROBE_COMMIT=""
ENV WSPROBE_COMMIT=${WSPROBE_COMMIT}
# Cache mounts keep the crate registry and the compiled dependencies between builds: a source
# edit recompiles wsprobe, not its ~400 dependencies. The target directory is a cache, so the
# binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/wsprobe /usr/local/bin/wsprobe

FROM debian:trixie-slim
ARG WSPROBE_COMMIT=""
LABEL org.opencontainers.image.title="wsprobe" \
      org.opencontainers.image.description="Authenticated WebSocket probes that say why a connection failed" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${WSPROBE_COMMIT}" \
      org.opencontainers.image.source="https://github.com/wsprobe/wsprobe"
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 wsprobe \
    && useradd --system --uid 10001 --gid wsprobe --home-dir /var/lib/wsprobe \
        --no-create-home --shell /usr/sbin/nologin wsprobe \
    && mkdir -p /var/lib/wsprobe /etc/wsprobe \
    && chown wsprobe:wsprobe /var/lib/wsprobe
COPY --from=build /usr/local/bin/wsprobe /usr/local/bin/wsprobe

ENV WSPROBE_CONFIG=/etc/wsprobe/probes.yaml
WORKDIR /var/lib/wsprobe
# The SQLite database (and its WAL files): keep it across container replacements.
VOLUME ["/var/lib/wsprobe"]
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# GET /healthz at the config's server.listen (0.0.0.0 is asked on 127.0.0.1); no curl needed.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["wsprobe", "healthcheck"]
# SIGTERM: stop scheduling, finish in-flight probes, flush metrics, close the store. That can
# take up to the longest probe timeout: give `docker stop` more than its default 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["wsprobe"]
CMD ["run"]

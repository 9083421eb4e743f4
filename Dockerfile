# syntax=docker/dockerfile:1.7
# One multi-stage build for every mlfleet binary. docker-bake.hcl picks the binary with
# the BINARY build argument; the runtime stage is distroless, static, non-root.
ARG RUST_VERSION=1.95
# gpu-node-agent loads libnvidia-ml with dlopen, which a static musl binary cannot do:
# its bake target sets TARGET=x86_64-unknown-linux-gnu and BASE=distroless/cc.
ARG BASE=gcr.io/distroless/static-debian12:nonroot

FROM rust:${RUST_VERSION}-bookworm AS build
ARG BINARY
ARG TARGET=x86_64-unknown-linux-musl
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* && rustup target add ${TARGET}
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target ${TARGET} --bin ${BINARY} \
 && install -D target/${TARGET}/release/${BINARY} /out/app

FROM ${BASE} AS runtime
ARG BINARY
LABEL org.opencontainers.image.source="https://github.com/mlfleet/mlfleet" \
      org.opencontainers.image.title="${BINARY}"
COPY --from=build /out/app /usr/local/bin/app
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["run"]

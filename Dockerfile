# syntax=docker/dockerfile:1
# sealed-secrets-rs image: the `controller` and `kubeseal` binaries on distroless (glibc).
#
#   docker build -t sealed-secrets-rs:0.1.0 .
#
# Why glibc + distroless/cc rather than a static musl binary: aws-lc-rs compiles AWS-LC's C code
# with the system C compiler; on glibc that needs nothing beyond the rust image's gcc, while a musl
# build needs musl-tools and a musl C toolchain for AWS-LC. distroless/cc-debian12 ships exactly the
# glibc, libgcc_s and CA certificates that the binaries need, and matches the bookworm builder.
# See docs/install.md.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin controller --bin kubeseal \
 && install -D -m 0755 target/release/controller /out/controller \
 && install -D -m 0755 target/release/kubeseal /out/kubeseal

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/controller /usr/local/bin/controller
COPY --from=build /out/kubeseal /usr/local/bin/kubeseal
# Same UID/GID as the Helm chart's runAsUser/runAsGroup (and upstream's image).
USER 1001:1001
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/controller"]

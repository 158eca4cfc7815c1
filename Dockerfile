# vigil's container image.
#
# Built on Debian 12 with the packages and the cmake configure/build commands
# of scripts/test (scripts/lib/common.sh: VIGIL_BUILD_PACKAGES less the test
# frameworks, build_vigil), here as Release with the tests off; run on
# debian:12-slim with only the shared libraries vigil loads. No container
# engine runs on the project's machines, so tests/k8s/run keeps this file in
# step instead: the builder's packages against common.sh, the runtime's
# against `ldd vigil`, the HEALTHCHECK and the labels.
#
#   docker build -t vigil:0.1.0 .
#   docker run --rm -p 8086:8086 -v "$PWD/config.json:/etc/vigil/config.json:ro" vigil:0.1.0
#
# Multi-arch (what .github/workflows/release.yml does on a v* tag):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     -t ghcr.io/OWNER/vigil:0.1.0 --push .

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libhiredis-dev nlohmann-json3-dev libcli11-dev libpq-dev libc-ares-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Same configure and build as scripts/test; only the daemon's target.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF \
 && cmake --build build --target vigil -j"$(nproc)" \
 && install -s -D -m 0755 "$(find build -type f -name vigil -perm -u+x | head -n 1)" /out/vigil \
 && /out/vigil --version

FROM debian:12-slim
# Runtime libraries, from `ldd vigil` and `dpkg -S` on each library it loads:
# vigil itself needs (readelf -d: NEEDED) libhiredis.so.0.14, libpq.so.5,
# libcares.so.2 and libssl.so.3 (TLS to the dependencies), so the packages
# are libhiredis0.14, libpq5, libc-ares2 and libssl3 (libc6, libstdc++6,
# libgcc-s1 are in the slim base). cpp-httplib is only a build dependency of
# the tests; `vigil probe` has its own small client.
# What they load in turn comes with them as dependencies: zlib1g,
# libgssapi-krb5-2, libkrb5-3, libk5crypto3,
# libkrb5support0, libkeyutils1, libcom-err2, libldap-2.5-0, libsasl2-2,
# libsasl2-modules-db, libdb5.3 (libpq's Kerberos and LDAP); GnuTLS, nettle,
# gmp, idn2, p11-kit and the rest of libldap's chain are already in the base.
# Size: debian:12-slim is about 75 MB unpacked; these add about 12 MB
# (libssl3 6.0, libdb5.3 1.8, the Kerberos libraries 1.9, libpq5 0.9,
# libldap 0.6, the rest under 0.5),
# and the stripped vigil binary a few MB: about 90 MB in all. Smaller needs
# a libpq without Kerberos and LDAP, which Debian does not ship.
# --no-install-recommends keeps out libsasl2-modules, libldap-common and
# krb5-locales, which vigil never uses.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libpq5 libc-ares2 libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/vigil /usr/local/bin/vigil
# OCI image labels; the release workflow passes the version, the commit and
# the build time (docker/metadata-action adds the same keys).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="Health and readiness sidecar: checks Redis, PostgreSQL and the app's port, answers the kubelet's probes from the latest results" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"
# Non-root, numeric so that the kubelet's runAsNonRoot can verify it; the
# chart runs the pod as the same uid.
USER 65532:65532
EXPOSE 8086
# vigil's own liveness for `docker run` and Docker Swarm: /metrics answers
# whenever vigil's server does. Not /livez, which fails with the app's own
# check (a liveness check) and would mark vigil unhealthy for the app's fault.
# Kubernetes ignores HEALTHCHECK; the chart probes /metrics the same way.
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/vigil", "probe", "http://127.0.0.1:8086/metrics"]
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["run", "--config", "/etc/vigil/config.json"]

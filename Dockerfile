# vigil's container image.
#
# Built on Debian 12 with the packages and the cmake configure/build commands
# of scripts/test (scripts/lib/common.sh: VIGIL_BUILD_PACKAGES less the test
# frameworks, build_vigil), here as Release with the tests off; run on
# debian:12-slim with only the shared libraries vigil loads. No container
# engine runs on the project's machines, so tests/k8s/run keeps this file in
# step instead: the builder's packages against common.sh, the runtime's
# against `ldd vigil`.
#
#   docker build -t vigil:0.1.0 .
#   docker run --rm -p 8086:8086 -v "$PWD/config.json:/etc/vigil/config.json:ro" vigil:0.1.0

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libcpp-httplib-dev libhiredis-dev nlohmann-json3-dev libcli11-dev libpq-dev libc-ares-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Same configure and build as scripts/test; only the daemon's target.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF \
 && cmake --build build --target vigil -j"$(nproc)" \
 && install -D -m 0755 "$(find build -type f -name vigil -perm -u+x | head -n 1)" /out/vigil \
 && /out/vigil --version

FROM debian:12-slim
# Runtime libraries only: cpp-httplib (it pulls libssl3, zlib1g, libbrotli1),
# hiredis, libpq (it pulls krb5 and ldap), c-ares. libc6, libstdc++6 and libgcc-s1
# are in the slim base.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libhiredis0.14 libpq5 libc-ares2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/vigil /usr/local/bin/vigil
# Non-root, numeric so that the kubelet's runAsNonRoot can verify it; the
# chart runs the pod as the same uid.
USER 65532:65532
EXPOSE 8086
# `vigil probe URL` exits 0 on 2xx/3xx: an exec probe for images without curl,
# in Kubernetes (exec: {command: [/usr/local/bin/vigil, probe, http://127.0.0.1:8086/livez]})
# and for `docker run`.
HEALTHCHECK --interval=10s --timeout=2s CMD ["/usr/local/bin/vigil", "probe", "http://127.0.0.1:8086/livez"]
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["run", "--config", "/etc/vigil/config.json"]

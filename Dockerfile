# tollgate's container image: tollgate and mock-llm on Debian 12 slim,
# running as an unprivileged user, with a HEALTHCHECK on /health.
#   docker build -t tollgate .            (or: docker compose -f deploy/docker-compose.yml up)
#   docker run -p 8080:8080 tollgate
# The build stage runs the README's build, as `make build` does:
# scripts/install-deps.sh, then a Release build with CMake
# (tests/e2e/test_deploy_files.py checks that they stay the same).

FROM debian:12-slim AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)"

FROM debian:12-slim
# The libraries tollgate and mock-llm link (Debian 12's package names);
# curl for the HEALTHCHECK, ca-certificates for https providers.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 libjansson4 libyaml-0-2 libsqlite3-0 libssl3 zlib1g \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/tollgate --create-home tollgate
COPY --from=build /src/build/src/tollgate /src/build/tools/mock-llm/mock-llm /usr/local/bin/
COPY deploy/tollgate.yaml /etc/tollgate/tollgate.yaml
USER tollgate
WORKDIR /var/lib/tollgate
ENV TOLLGATE_DATA_DIR=/var/lib/tollgate
VOLUME /var/lib/tollgate
EXPOSE 8080
# /health answers 200 while the process serves (docs/gateway-behaviour.md);
# /ready is the readiness signal (the Kubernetes probe).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT:-8080}/health" >/dev/null || exit 1
ENTRYPOINT ["tollgate"]
CMD ["serve", "--config", "/etc/tollgate/tollgate.yaml"]

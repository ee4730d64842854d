# syntax=docker/dockerfile:1
# lwds-rest-api on Debian 12 packages.  Build context: the repository root
#   docker build -f deploy/docker/rest-api.Dockerfile -t lwds/rest-api .
# Stage 1 compiles only this service; stage 2 holds the binary, its runtime
# libraries and an unprivileged user.
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
      meson ninja-build libcoap3-dev libnng-dev libevhtp-dev libevent-dev \
      libssl-dev libyajl-dev libhiredis-dev libxml2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build -Dtests=disabled -Dbuildtype=release \
 && ninja -C /build services/rest-api/lwds-rest-api \
 && strip /build/services/rest-api/lwds-rest-api

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libevent-2.1-7 libevent-pthreads-2.1-7 libevent-openssl-2.1-7 libevhtp0 libhiredis0.14 libnng1 libssl3 libyajl2 libxml2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lwds
COPY --from=build /build/services/rest-api/lwds-rest-api /usr/local/bin/lwds-rest-api
COPY data/objects/lwds-objects.json /usr/share/lwds/lwds-objects.json
COPY deploy/docker/healthcheck.sh /usr/local/bin/lwds-healthcheck
USER lwds
EXPOSE 8080 7724
ENTRYPOINT ["/usr/local/bin/lwds-rest-api"]

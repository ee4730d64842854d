# syntax=docker/dockerfile:1
# The load balancer: nginx from Debian 12 with the stream module (UDP for
# CoAP 5683 and DTLS 5684, keyed on the client address) and an HTTP upstream
# for the REST API.  Runs unprivileged: every port it listens on is > 1024.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light libnginx-mod-stream \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default \
 && useradd --system --uid 10002 --no-create-home --shell /usr/sbin/nologin lb \
 && mkdir -p /var/lib/nginx /var/log/nginx \
 && chown -R lb:lb /var/lib/nginx /var/log/nginx
COPY deploy/nginx/nginx.conf /etc/nginx/nginx.conf
COPY deploy/docker/healthcheck.sh /usr/local/bin/lwds-healthcheck
USER lb
EXPOSE 5683/udp 5684/udp 8080
ENTRYPOINT ["nginx", "-g", "daemon off;"]

# syntax=docker/dockerfile:1
# Redis 7.0 from Debian 12 (redis-server, and redis-sentinel for the
# "sentinel" profile), running as the package's redis user.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-sentinel \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379 26379
ENTRYPOINT ["redis-server"]
CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", \
     "--appendonly", "yes", "--appendfsync", "everysec"]

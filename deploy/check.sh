#!/bin/bash
# deploy/check.sh - validate the deployment files without a Docker engine:
#  1. the compose file (docker compose config, or docker-compose config),
#  2. the nginx configuration (nginx -t under a temporary prefix, upstream
#     names pointed at 127.0.0.1 since compose's DNS is not here),
#  3. the shell scripts (bash -n) and the Dockerfiles (Debian 12 base, a
#     non-root USER, multi-stage for the services).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check.sh: $*" >&2; exit 1; }

# 1. compose (the env file is required by the stack: use the example)
cp "$here/docker-compose.yml" "$tmp/" && cp "$here/lwds.env.example" "$tmp/lwds.env"
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose=(docker-compose)
else
	fail "neither 'docker compose' nor docker-compose is installed"
fi
(cd "$tmp" && "${compose[@]}" -f docker-compose.yml --profile sentinel config -q) ||
	fail "compose file invalid"
echo "compose: ok (${compose[*]})"

# 2. nginx
sed -e 's/server coap-gw:/server 127.0.0.1:/; s/server rest-api:/server 127.0.0.1:/' \
	-e "s|pid /tmp/nginx.pid;|pid $tmp/nginx.pid;|" \
	"$here/nginx/nginx.conf" >"$tmp/nginx.conf"
nginx -t -q -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" ||
	fail "nginx.conf invalid"
echo "nginx: ok"

# 3. scripts and Dockerfiles
for s in "$here"/docker/*.sh "$here/check.sh"; do
	bash -n "$s" || fail "$s: syntax"
done
for f in "$here"/docker/*.Dockerfile; do
	grep -q '^FROM debian:12-slim' "$f" || fail "$f: not on debian:12-slim"
	grep -q '^USER [a-z]' "$f" || fail "$f: no non-root USER"
	grep -q '^USER root' "$f" && fail "$f: runs as root"
	case $f in
	*/redis.Dockerfile | */lb.Dockerfile) ;;
	*) [[ $(grep -c '^FROM ' "$f") -ge 2 ]] || fail "$f: not multi-stage" ;;
	esac
done
echo "dockerfiles, scripts: ok"

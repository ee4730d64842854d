# shellcheck shell=bash
# lib.sh - shell helpers shared by ./lwds (sourced, bash).

# lwds_say MSG...: one progress line on stderr.
lwds_say()
{
	printf 'lwds: %s\n' "$*" >&2
}

# lwds_die MSG...: print an error and exit 1.
lwds_die()
{
	printf 'lwds: error: %s\n' "$*" >&2
	exit 1
}

# lwds_pkg_present ENTRY: true when "pkg" or "pkg:command" is installed.
lwds_pkg_present()
{
	local pkg=${1%%:*} cmd=

	if [[ $1 == *:* ]]; then
		cmd=${1#*:}
		if command -v "$cmd" >/dev/null 2>&1; then
			return 0
		fi
	fi
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
		grep -q 'install ok installed'
}

# lwds_ensure_packages ENTRY...: apt-get install what is missing.
lwds_ensure_packages()
{
	local e missing=() sudo=()

	for e in "$@"; do
		if ! lwds_pkg_present "$e"; then
			missing+=("${e%%:*}")
		fi
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			lwds_die "missing packages (${missing[*]}); run as root"
		sudo=(sudo)
	fi
	lwds_say "installing: ${missing[*]}"
	"${sudo[@]}" apt-get update -q ||
		lwds_die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
		--no-install-recommends "${missing[@]}" ||
		lwds_die "apt-get install failed"
}

# lwds_free_port [udp]: print a currently free TCP (or UDP) loopback port.
lwds_free_port()
{
	python3 - "${1:-tcp}" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

# lwds_build DIR [MESON-ARGS...]: meson setup DIR once, then ninja.
lwds_build()
{
	local dir=$1

	shift
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$@" || return 1
	fi
	ninja -C "$dir"
}

# lwds_start_redis DIR PORT LOG: start a private redis-server on loopback in
# the background, data and append-only file under DIR; sets LWDS_REDIS_PID
# and waits until it answers PING.
lwds_start_redis()
{
	local dir=$1 port=$2 log=$3 i

	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
		--appendonly yes --protected-mode no --daemonize no \
		--save '' >"$log" 2>&1 &
	LWDS_REDIS_PID=$!
	for ((i = 0; i < 100; i++)); do
		if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null |
			grep -q PONG; then
			return 0
		fi
		if ! kill -0 "$LWDS_REDIS_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	lwds_die "redis-server did not start on port $port (see $log)"
}

# lwds_random_token: 64 random bytes as URL-safe base64 without padding.
lwds_random_token()
{
	head -c 64 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# shellcheck shell=bash
# run.sh - "./lwds run": build and run the suite in the foreground (sourced
# by ./lwds after packages.sh and lib.sh).

LWDS_SERVICES=(coap-gw rest-api broker webhook)
LWDS_PIDS=()
LWDS_NAMES=()

# lwds_service_bin NAME: path of a service's executable in the build dir.
lwds_service_bin()
{
	printf '%s/services/%s/lwds-%s' "$LWDS_BUILD" "$1" "$1"
}

# lwds_stop_all: SIGTERM every process this script started, newest first,
# then wait for each (SIGKILL after 10 s).
lwds_stop_all()
{
	local i pid t

	trap - INT TERM EXIT
	for ((i = ${#LWDS_PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${LWDS_PIDS[i]}" 2>/dev/null || true
	done
	for ((i = ${#LWDS_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${LWDS_PIDS[i]}
		for ((t = 0; t < 100; t++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LWDS_PIDS=()
	lwds_say "stopped"
}

# lwds_admin_credentials: LWDS_ADMIN_KEY/SECRET from the environment, else
# from var/admin.env, else generated now and stored there (mode 0600).
lwds_admin_credentials()
{
	local k v

	if [[ -n ${LWDS_ADMIN_KEY:-} || -n ${LWDS_ADMIN_SECRET:-} ]]; then
		[[ -n ${LWDS_ADMIN_KEY:-} && -n ${LWDS_ADMIN_SECRET:-} ]] ||
			lwds_die "set both LWDS_ADMIN_KEY and LWDS_ADMIN_SECRET"
		return 0
	fi
	if [[ ! -f var/admin.env ]]; then
		(
			umask 077
			printf 'LWDS_ADMIN_KEY=%s\nLWDS_ADMIN_SECRET=%s\n' \
				"$(lwds_random_token)" "$(lwds_random_token)" \
				>var/admin.env
		)
		lwds_say "generated the admin access key into var/admin.env"
	fi
	chmod 600 var/admin.env
	while IFS='=' read -r k v; do
		case $k in
		LWDS_ADMIN_KEY) LWDS_ADMIN_KEY=$v ;;
		LWDS_ADMIN_SECRET) LWDS_ADMIN_SECRET=$v ;;
		esac
	done <var/admin.env
	[[ -n ${LWDS_ADMIN_KEY:-} && -n ${LWDS_ADMIN_SECRET:-} ]] ||
		lwds_die "var/admin.env lacks LWDS_ADMIN_KEY or LWDS_ADMIN_SECRET"
	export LWDS_ADMIN_KEY LWDS_ADMIN_SECRET
}

# lwds_run_redis: a private redis-server unless LWDS_REDIS_URL is set.
lwds_run_redis()
{
	local port

	if [[ -n ${LWDS_REDIS_URL:-} ]]; then
		lwds_say "using Redis at $LWDS_REDIS_URL"
		return 0
	fi
	port=$(lwds_free_port)
	lwds_start_redis "$LWDS_ROOT/var/redis" "$port" var/log/redis.log
	LWDS_PIDS+=("$LWDS_REDIS_PID")
	LWDS_NAMES+=(redis)
	export LWDS_REDIS_URL="redis://127.0.0.1:$port/0"
	lwds_say "started redis-server on 127.0.0.1:$port (data in var/redis)"
}

# lwds_run_services: start the four daemons, logs in var/log/<name>.log.
lwds_run_services()
{
	local name bin

	for name in "${LWDS_SERVICES[@]}"; do
		bin=$(lwds_service_bin "$name")
		[[ -x $bin ]] || lwds_die "$bin was not built"
		"$bin" </dev/null >>"var/log/$name.log" 2>&1 &
		LWDS_PIDS+=("$!")
		LWDS_NAMES+=("$name")
	done
}

# lwds_check_alive: die (stopping everything) if a started process exited.
lwds_check_alive()
{
	local i

	for i in "${!LWDS_PIDS[@]}"; do
		if ! kill -0 "${LWDS_PIDS[i]}" 2>/dev/null; then
			lwds_say "${LWDS_NAMES[i]} exited; last lines of its log:"
			tail -n 20 "var/log/${LWDS_NAMES[i]}.log" >&2 || true
			lwds_stop_all
			exit 1
		fi
	done
}

# lwds_wait_ready: poll GET / and a CoAP ping for up to 30 s.
lwds_wait_ready()
{
	local t

	for ((t = 0; t < 300; t++)); do
		lwds_check_alive
		if python3 scripts/probe.py http 127.0.0.1 "$LWDS_HTTP_PORT" &&
			python3 scripts/probe.py coap 127.0.0.1 "$LWDS_COAP_PORT"; then
			return 0
		fi
		sleep 0.1
	done
	lwds_say "services not ready after 30 s; see var/log/"
	lwds_stop_all
	exit 1
}

lwds_banner()
{
	local host

	host=$(hostname -I 2>/dev/null | awk '{print $1}')
	host=${host:-127.0.0.1}
	cat <<BANNER

lwds is running (Ctrl-C stops it).
  REST API:    http://127.0.0.1:$LWDS_HTTP_PORT
  CoAP:        coap://$host:$LWDS_COAP_PORT
  Redis:       $LWDS_REDIS_URL
  Admin key:   $LWDS_ADMIN_KEY
  Admin secret: $LWDS_ADMIN_SECRET
  Logs:        var/log/*.log
  Get a token:
    curl -s -X POST http://127.0.0.1:$LWDS_HTTP_PORT/oauth/token -d grant_type=password -d username=$LWDS_ADMIN_KEY -d password=$LWDS_ADMIN_SECRET

BANNER
}

lwds_run()
{
	LWDS_BUILD=${LWDS_BUILD_DIR:-build-release}
	export LWDS_HTTP_LISTEN=${LWDS_HTTP_LISTEN:-0.0.0.0:8080}
	LWDS_COAP_LISTEN=${LWDS_COAP_LISTEN:-0.0.0.0:5683}
	export LWDS_COAP_LISTEN
	LWDS_COAP_PORT=${LWDS_COAP_LISTEN##*:}
	LWDS_HTTP_PORT=${LWDS_HTTP_LISTEN##*:}

	lwds_ensure_packages "${LWDS_PKGS_RUN[@]}"
	lwds_build "$LWDS_BUILD" --buildtype=release -Dtests=disabled ||
		lwds_die "build failed"
	mkdir -p var/log var/redis
	lwds_admin_credentials
	trap 'lwds_stop_all; exit 0' INT TERM
	trap 'lwds_stop_all' EXIT
	lwds_run_redis
	lwds_run_services
	lwds_wait_ready
	lwds_banner
	while true; do
		wait -n || true
		lwds_check_alive
	done
}

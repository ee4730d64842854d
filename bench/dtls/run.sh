#!/bin/sh
# bench/dtls/run.sh - DTLS PSK handshake benchmark: lwds-coap-gw against
# libcoap's own coap-server-openssl (baseline) on this machine, same client.
#   BUILD=build-release COUNT=5000 CONCURRENCY=128 HOLD=2000 bench/dtls/run.sh
set -eu
BUILD=${BUILD:-build}
COUNT=${COUNT:-5000}
CONC=${CONCURRENCY:-128}
HOLD=${HOLD:-2000}
BENCH=$BUILD/bench/lwds-bench-dtls
GW=$BUILD/services/coap-gw/lwds-coap-gw
TMP=$(mktemp -d /tmp/lwds-bench-dtls.XXXXXX)
RPORT=$((20000 + $$ % 10000))
GPORT=$((RPORT + 1))
BPORT=$((RPORT + 3))
KEY_ASCII=lwds-bench-psk-key-0123456789abc
KEY_HEX=$(printf %s "$KEY_ASCII" | od -An -tx1 | tr -d ' \n')
ID=YmVuY2gtaWRlbnRpdHktMA
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

redis-server --port "$RPORT" --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
sleep 0.5
redis-cli -p "$RPORT" HSET 'lwds:v1:{psk}' "$ID" "1:$KEY_HEX" >/dev/null
redis-cli -p "$RPORT" INCR 'lwds:v1:{psk}:version' >/dev/null
LWDS_REDIS_URL=redis://127.0.0.1:$RPORT LWDS_COAP_LISTEN=127.0.0.1:$((RPORT + 5)) \
LWDS_DTLS_LISTEN=127.0.0.1:$GPORT LWDS_DTLS_PKI=0 \
LWDS_GW_RPC_URL=tcp://127.0.0.1:$((RPORT + 6)) \
LWDS_EVENTS_URL=tcp://127.0.0.1:$((RPORT + 7)) LWDS_LOG_LEVEL=err \
	"$GW" >"$TMP/gw.log" 2>&1 &
GWPID=$!
PIDS="$PIDS $GWPID"
coap-server-openssl -A 127.0.0.1 -p $((BPORT - 1)) -k "$KEY_ASCII" \
	>"$TMP/baseline.log" 2>&1 &
BASEPID=$!
PIDS="$PIDS $BASEPID"
sleep 1

rate() { sed -n 's/.*"rate":\([0-9.]*\).*/\1/p'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "full PSK handshakes (PSK-AES128-CCM8), $COUNT, $CONC in flight"
G=$("$BENCH" 127.0.0.1 "$GPORT" "$ID" "$KEY_HEX" --count "$COUNT" --concurrency "$CONC" </dev/null || true)
B=$("$BENCH" 127.0.0.1 "$BPORT" "$ID" "$KEY_HEX" --count "$COUNT" --concurrency "$CONC" </dev/null || true)
echo "  lwds-coap-gw        $G"
echo "  coap-server-openssl $B"
GR=$(echo "$G" | rate); BR=$(echo "$B" | rate)
echo "  ratio gateway/baseline: $(echo "$GR $BR" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }') (goal: 2000 handshakes/s)"

for name in gateway baseline; do
	if [ $name = gateway ]; then PORT=$GPORT; PID=$GWPID; else PORT=$BPORT; PID=$BASEPID; fi
	R0=$(rss_kb "$PID")
	mkfifo "$TMP/hold.$name"
	"$BENCH" 127.0.0.1 "$PORT" "$ID" "$KEY_HEX" --count "$HOLD" --concurrency "$CONC" --hold <"$TMP/hold.$name" >"$TMP/hold.$name.out" &
	HP=$!
	exec 9>"$TMP/hold.$name"
	while ! grep -q rate "$TMP/hold.$name.out" 2>/dev/null; do sleep 0.2; done
	sleep 1
	R1=$(rss_kb "$PID")
	echo "$name: $HOLD sessions opened: $(cat "$TMP/hold.$name.out"); RSS $R0 -> $R1 kB," \
		"$(echo "$R0 $R1 $HOLD" | awk '{printf "%.1f", ($2 - $1) / $3}') kB per session"
	exec 9>&-
	wait $HP || true
done

#!/bin/sh
# bench/dtls/run.sh - DTLS benchmark of lwds-coap-gw on this machine:
#  1. full PSK handshakes/s against the gateway (PSK only, LWDS_DTLS_PKI=0),
#     the gateway with certificates on the same port (the default), and
#     libcoap's own coap-server-openssl (baseline), same client;
#  2. DTLS sessions held: HOLD registered sessions (one PSK identity each,
#     a CoAP Register over every session), in batches of BATCH, with the
#     gateway's RSS after each batch and the bytes per session.
#   BUILD=build COUNT=5000 CONCURRENCY=128 HOLD=20000 BATCH=5000 PKI=0 \
#   SHARDS=16 bench/dtls/run.sh
# SHARDS: LWDS_DTLS_SHARDS of the gateway that holds the sessions (1: one
# libcoap context); LWDS_COAP_WALK_MS from the environment reaches every
# gateway started here (0: libcoap's own walk after every event).
set -eu
BUILD=${BUILD:-build}
COUNT=${COUNT:-5000}
CONC=${CONCURRENCY:-128}
HOLD=${HOLD:-20000}
BATCH=${BATCH:-5000}
PKI=${PKI:-0} # certificates on the gateway that holds the sessions
SHARDS=${SHARDS:-1}
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
GWPID=""
cleanup() {
	for p in $PIDS $GWPID; do kill "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

redis-server --port "$RPORT" --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
sleep 0.5
# identity ID (handshake benchmark) and the HOLD identities of --register
python3 - "$ID" "$HOLD" "1:$KEY_HEX" <<'EOF' | redis-cli -p "$RPORT" --pipe >/dev/null
import sys
ident, n, val = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
cmd("HSET", "lwds:v2:{psk}", ident, val)
for i in range(n):
    cmd("HSET", "lwds:v2:{psk}", "%s%09dA" % (ident[:-10], i), val)
cmd("INCR", "lwds:v2:{psk}:version")
EOF

start_gw() { # $1: LWDS_DTLS_PKI, $2: LWDS_DTLS_SHARDS (default 1)
	LWDS_DTLS_SHARDS=${2:-1} LWDS_REDIS_URL=redis://127.0.0.1:$RPORT LWDS_COAP_LISTEN=127.0.0.1:$((RPORT + 5)) \
	LWDS_DTLS_LISTEN=127.0.0.1:$GPORT LWDS_DTLS_PKI=$1 \
	LWDS_GW_RPC_URL=tcp://127.0.0.1:$((RPORT + 6)) \
	LWDS_EVENTS_URL=tcp://127.0.0.1:$((RPORT + 7)) LWDS_LOG_LEVEL=err \
		"$GW" >"$TMP/gw.log" 2>&1 &
	GWPID=$!
	sleep 2
}
stop_gw() {
	kill "$GWPID"
	wait "$GWPID" 2>/dev/null || true
	GWPID=""
}
rate() { sed -n 's/.*"rate":\([0-9.]*\).*/\1/p'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
shake() { "$BENCH" 127.0.0.1 "$1" "$ID" "$KEY_HEX" --count "$COUNT" --concurrency "$CONC" </dev/null || true; }

coap-server-openssl -A 127.0.0.1 -p $((BPORT - 1)) -k "$KEY_ASCII" \
	>"$TMP/baseline.log" 2>&1 &
PIDS="$PIDS $!"
echo "full PSK handshakes (PSK-AES128-CCM8), $COUNT, $CONC in flight"
start_gw 0
G=$(shake "$GPORT")
stop_gw
start_gw 1
GC=$(shake "$GPORT")
stop_gw
B=$(shake "$BPORT")
echo "  lwds-coap-gw (PSK only)         $G"
echo "  lwds-coap-gw (PSK + certs)      $GC"
echo "  coap-server-openssl (baseline)  $B"
GR=$(echo "$G" | rate); GCR=$(echo "$GC" | rate); BR=$(echo "$B" | rate)
echo "  ratio gateway/baseline: $(echo "$GR $GCR $BR" | awk '{ if ($3 > 0) printf "%.2f (PSK only), %.2f (PSK + certs)", $1 / $3, $2 / $3; else print "n/a" }') (goal: 2000 handshakes/s)"

echo "sessions held: $HOLD registered DTLS sessions (PSK, LWDS_DTLS_PKI=$PKI, $SHARDS shards), batches of $BATCH"
start_gw "$PKI" "$SHARDS"
R0=$(rss_kb "$GWPID")
FIRST=0
while [ "$FIRST" -lt "$HOLD" ]; do
	N=$BATCH
	[ $((FIRST + N)) -le "$HOLD" ] || N=$((HOLD - FIRST))
	OUT=$("$BENCH" 127.0.0.1 "$GPORT" "$ID" "$KEY_HEX" --count "$N" --concurrency 64 --register --first "$FIRST" </dev/null || true)
	FIRST=$((FIRST + N))
	R1=$(rss_kb "$GWPID")
	echo "  $FIRST held: $OUT; RSS $R0 -> $R1 kB," \
		"$(echo "$R0 $R1 $FIRST" | awk '{printf "%.1f", ($2 - $1) / $3}') kB per session"
done
stop_gw

#!/usr/bin/env bash
# wakaama.sh - fetch and build Eclipse Wakaama's example LwM2M client
# (lwm2mclient) for the interop tests; no Wakaama code is kept in lwds.
#
# usage: wakaama.sh CACHE_DIR
#
# Wakaama's sources ship inside the npm package node-red-contrib-lwm2m
# (deps/wakatiwai/deps/wakaama).  The pinned tarball is fetched with
# `npm pack`, its sha512 checked against the pinned integrity, only the
# client's sources (core/, examples/client, examples/shared) extracted and
# built with cmake + make.  The result, CACHE_DIR/lwm2mclient, is built once
# and reused while the pinned version stays the same.  Prints the path of
# the executable on stdout; on any failure prints why on stderr, exits 1.
set -euo pipefail

PKG=node-red-contrib-lwm2m
VERSION=2.12.3
INTEGRITY=sha512-3B8sePuwPJbGJ2+P5JHLRyuW2n8wAyLI/5NG9j+b+kT21MPNtIk0ExzY8hK4+QPtz+G62bpWhgxGFWvVQ0/n8A==
SRC=package/deps/wakatiwai/deps/wakaama
# er-coap-13.c (coap_parse_message) writes the size_t option_length through
# an unsigned int pointer: with strict aliasing (gcc -O2 and up) extended
# option lengths are lost, so a Location-Path segment of 13 bytes or more
# (an lwds registration id has 22) fails to parse, the client answers the
# Register's 2.01 with a 4.00 and gives up.
CFLAGS_WK="-fno-strict-aliasing"
BUILD_ID="$PKG@$VERSION $CFLAGS_WK"

die() {
	echo "wakaama.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: wakaama.sh CACHE_DIR"
for tool in npm openssl base64 tar cmake make cc flock; do
	command -v "$tool" >/dev/null || die "$tool not found (scripts/packages.sh lists it)"
done

mkdir -p "$1"
cache=$(cd "$1" && pwd)
exe="$cache/lwm2mclient"
stamp="$cache/lwm2mclient.version"

# One build at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

if [ -x "$exe" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$BUILD_ID" ]; then
	echo "$exe"
	exit 0
fi
rm -f "$exe" "$stamp"

work="$cache/work"
rm -rf "$work"
mkdir -p "$work/build"
log="$cache/build.log"
: >"$log"

(cd "$work" && npm pack --loglevel=error --no-audit --no-fund "$PKG@$VERSION") \
	>>"$log" 2>&1 || die "npm pack $PKG@$VERSION failed (is the npm registry reachable?):
$(tail -n 20 "$log")"
tgz="$work/$PKG-$VERSION.tgz"
[ -f "$tgz" ] || die "npm pack did not leave $tgz"

got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || die "$tgz: integrity $got, expected $INTEGRITY"

tar -xzf "$tgz" -C "$work" "$SRC/core" "$SRC/examples/client" \
	"$SRC/examples/shared" >>"$log" 2>&1 || die "cannot extract $SRC from $tgz"

(cmake -S "$work/$SRC/examples/client" -B "$work/build" \
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$CFLAGS_WK" && make -C "$work/build" -j2) \
	>>"$log" 2>&1 || die "building lwm2mclient failed:
$(tail -n 30 "$log")"

cp "$work/build/lwm2mclient" "$exe.tmp"
mv "$exe.tmp" "$exe"
echo "$BUILD_ID" >"$stamp"
rm -rf "$work"
echo "$exe"

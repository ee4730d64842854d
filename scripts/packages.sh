# shellcheck shell=bash
# packages.sh - the one list of Debian 12 packages lwds needs (sourced).
#
# Each entry is "package" or "package:command": with a command, the package
# counts as present when that command is on PATH (Node.js, for example, may
# come from NodeSource rather than Debian).

# Building and running the four services.
LWDS_PKGS_RUN=(
	build-essential:gcc
	pkg-config
	meson
	ninja-build
	libcoap3-dev
	libnng-dev
	libevhtp-dev
	libevent-dev
	libssl-dev
	libyajl-dev
	libhiredis-dev
	libxml2-dev
	check
	redis-server
	openssl
	curl
	python3:python3
)

# Running every test: integration client tools, the interop client (npm),
# sanitizer and fuzz builds.
# shellcheck disable=SC2034 # used by test.sh
LWDS_PKGS_TEST=(
	"${LWDS_PKGS_RUN[@]}"
	libcoap3-bin
	nodejs:node
	npm:npm
	# the Wakaama interop client (tests/integration/interop/wakaama.sh)
	cmake
	clang
	libclang-rt-14-dev
	valgrind
	# deployment tests: scale-out through nginx, Sentinel failover,
	# compose file validation (deploy/check.sh)
	redis-sentinel
	nginx-light:nginx
	libnginx-mod-stream
	docker-compose
)

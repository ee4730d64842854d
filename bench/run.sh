#!/usr/bin/env bash
# bench/run.sh [--short] [--soak] [bench.py options]: build the optimised
# build (LWDS_BENCH_BUILD_DIR, default build-bench), then run bench/bench.py
# against it.  See bench/README.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
dir=${LWDS_BENCH_BUILD_DIR:-build-bench}
lwds_say "building $dir (release)"
lwds_build "$dir" --buildtype=release -Dtests=disabled >/dev/null ||
	lwds_die "build of $dir failed"
LWDS_BUILD_DIR=$dir exec python3 bench/bench.py "$@"

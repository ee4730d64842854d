# shellcheck shell=bash
# test.sh - "./lwds test": build and run every test, print "N passed,
# N failed" (sourced by ./lwds after packages.sh and lib.sh).  Counted:
# test binaries (unit, ASan unit, fuzz targets, builds) and integration
# cases.

LWDS_PASSED=0
LWDS_FAILED=0
LWDS_FAILURES=()

# lwds_tally PASSED FAILED WHAT: add to the totals.
lwds_tally()
{
	LWDS_PASSED=$((LWDS_PASSED + $1))
	LWDS_FAILED=$((LWDS_FAILED + $2))
	if (($2 > 0)); then
		LWDS_FAILURES+=("$3: $2 failed")
	fi
}

# lwds_meson_suite DIR SUITE [MESON-ARGS...]: meson test one suite, tally
# its binaries.
lwds_meson_suite()
{
	local dir=$1 suite=$2 counts

	shift 2
	rm -f "$dir"/meson-logs/lwds-run*.json
	meson test -C "$dir" --suite "$suite" --print-errorlogs \
		--num-processes 2 --logbase lwds-run "$@" || true
	counts=$(python3 - "$dir"/meson-logs/lwds-run*.json <<'PY'
import json, sys
ok = bad = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        else:
            bad += 1
except OSError:
    bad = 1
print(ok, bad if ok + bad else 1)
PY
)
	lwds_tally "${counts% *}" "${counts#* }" "$dir $suite $*"
}

# lwds_step_build DIR ARGS...: build, tally one failure if it breaks.
lwds_step_build()
{
	local dir=$1

	lwds_say "building $dir"
	if lwds_build "$@"; then
		return 0
	fi
	lwds_tally 0 1 "build $dir"
	return 1
}

# lwds_step_integration: a private redis-server on a free port, then every
# integration case.
lwds_step_integration()
{
	local dir=$1 tmp port counts rc=0

	tmp=$(mktemp -d /tmp/lwds-test-redis.XXXXXX)
	port=$(lwds_free_port)
	lwds_start_redis "$tmp" "$port" "$tmp/redis.log"
	export LWDS_TEST_REDIS_URL="redis://127.0.0.1:$port"
	# Check binaries in suite "integration" (those that need Redis); the
	# Python cases are also registered there, as "pyintegration", and
	# run below so that each case is counted.
	if meson test -C "$dir" --list --suite integration \
		--no-suite pyintegration 2>/dev/null | grep -q ' / '; then
		lwds_meson_suite "$dir" integration --no-suite pyintegration
	fi
	LWDS_BUILD_DIR="$dir" python3 tests/integration/run.py \
		--counts "$tmp/counts" || rc=$?
	unset LWDS_TEST_REDIS_URL
	kill -TERM "$LWDS_REDIS_PID" 2>/dev/null || true
	wait "$LWDS_REDIS_PID" 2>/dev/null || true
	counts=$(cat "$tmp/counts" 2>/dev/null || echo "0 1")
	rm -rf "$tmp"
	if ((rc != 0)) && [[ ${counts#* } == 0 ]]; then
		counts="${counts% *} 1"
	fi
	lwds_tally "${counts% *}" "${counts#* }" integration
}

# lwds_step_bench DIR: the benchmarks in short mode (bench/README.md),
# proving they still run; their figures are not judged.
lwds_step_bench()
{
	local dir=$1 tmp

	tmp=$(mktemp -d /tmp/lwds-bench.XXXXXX)
	lwds_say "benchmarks, short mode"
	if LWDS_BUILD_DIR="$dir" python3 bench/bench.py --short \
		--out "$tmp" >"$tmp/log" 2>&1; then
		lwds_tally 1 0 bench
		rm -rf "$tmp"
	else
		tail -n 40 "$tmp/log" >&2
		lwds_say "bench --short failed; log kept in $tmp"
		lwds_tally 0 1 bench
	fi
}

# lwds_build_fuzz DIR: the clang libFuzzer build, fuzz targets only (the
# services are built and tested by the gcc builds).
lwds_build_fuzz()
{
	local dir=$1 targets

	lwds_say "building $dir"
	if [[ ! -f $dir/build.ninja ]] &&
		! CC=clang meson setup "$dir" -Dfuzz=true \
			-Db_sanitize=address,undefined -Db_lundef=false \
			-Dtests=disabled; then
		lwds_tally 0 1 "build $dir"
		return 1
	fi
	# regenerate first, so that the target list is current
	ninja -C "$dir" build.ninja >/dev/null || true
	targets=$(meson introspect "$dir" --targets | python3 -c '
import json, os, sys
d = os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    for f in t["filename"]:
        rel = os.path.relpath(f, d)
        if rel.startswith("fuzz" + os.sep) and t["type"] == "executable":
            print(rel)
' "$dir")
	if [[ -z $targets ]]; then
		return 0
	fi
	# shellcheck disable=SC2086 # one ninja target per word
	if ! ninja -C "$dir" $targets; then
		lwds_tally 0 1 "build $dir"
		return 1
	fi
}

# lwds_step_fuzz DIR SECONDS BUDGET: each libFuzzer target over its
# committed corpus for SECONDS, less when the targets together would take
# more than BUDGET seconds (never under 5); new inputs go to a scratch
# directory, the corpus stays as is.
lwds_step_fuzz()
{
	local dir=$1 secs=$2 budget=$3 exe name corpus scratch dirs
	local exes=()

	for exe in "$dir"/fuzz/fuzz_*; do
		[[ -f $exe && -x $exe ]] && exes+=("$exe")
	done
	if ((${#exes[@]} > 0 && secs * ${#exes[@]} > budget)); then
		secs=$((budget / ${#exes[@]}))
		((secs >= 5)) || secs=5
	fi
	for exe in "${exes[@]}"; do
		name=$(basename "$exe")
		corpus=fuzz/corpus/${name#fuzz_}
		[[ -d $corpus ]] || corpus=fuzz/corpus/$name
		scratch=$(mktemp -d /tmp/lwds-fuzz.XXXXXX)
		mkdir "$scratch/new"
		dirs=("$scratch/new")
		[[ ! -d $corpus ]] || dirs+=("$corpus")
		lwds_say "fuzzing $name for $secs s"
		if "$exe" -max_total_time="$secs" -timeout=10 \
			-rss_limit_mb=2048 -artifact_prefix="$scratch/" \
			"${dirs[@]}" \
			>"$scratch/log" 2>&1; then
			lwds_tally 1 0 "$name"
			rm -rf "$scratch"
		else
			tail -n 40 "$scratch/log" >&2
			lwds_say "$name failed; log and crash input kept in $scratch"
			lwds_tally 0 1 "$name"
		fi
	done
}

lwds_test()
{
	local b=${LWDS_BUILD_DIR:-build}

	lwds_ensure_packages "${LWDS_PKGS_TEST[@]}"
	if lwds_step_build "$b"; then
		lwds_tally 1 0 "build $b"
		lwds_meson_suite "$b" unit
		lwds_step_integration "$b"
		if [[ ${LWDS_SKIP_BENCH:-0} != 1 ]]; then
			lwds_step_bench "$b"
		fi
		if [[ ${LWDS_SKIP_VALGRIND:-0} != 1 ]]; then
			lwds_say "unit tests under valgrind"
			CK_TIMEOUT_MULTIPLIER=10 \
				lwds_meson_suite "$b" unit --setup=valgrind
		fi
	fi
	if [[ ${LWDS_SKIP_ASAN:-0} != 1 ]] &&
		lwds_step_build "$b-asan" -Db_sanitize=address,undefined \
			-Db_lundef=false; then
		lwds_tally 1 0 "build $b-asan"
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			lwds_meson_suite "$b-asan" unit
	fi
	if [[ ${LWDS_SKIP_FUZZ:-0} != 1 ]] && command -v clang >/dev/null &&
		lwds_build_fuzz "$b-fuzz"; then
		lwds_tally 1 0 "build $b-fuzz"
		lwds_step_fuzz "$b-fuzz" "${LWDS_FUZZ_SECONDS:-20}" \
			"${LWDS_FUZZ_BUDGET:-240}"
	fi
	if ((${#LWDS_FAILURES[@]} > 0)); then
		lwds_say "failed: ${LWDS_FAILURES[*]}"
	fi
	echo "$LWDS_PASSED passed, $LWDS_FAILED failed"
	((LWDS_FAILED == 0))
}

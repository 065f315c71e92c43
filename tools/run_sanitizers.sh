#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer, UndefinedBehaviorSanitizer
# and/or ThreadSanitizer (the asan/ubsan/tsan configs in .bazelrc).
#
#   tools/run_sanitizers.sh [--exclude_tags TAG,...] [asan] [ubsan] [tsan] [//PATTERN...]
#
# Each sanitizer gets its own Bazel output base outside the workspace, so
# the normal build cache is never invalidated by the changed copts. The test
# list comes from the normal server's `bazel query` (a foreign output base
# would also scan the workspace's bazel-* symlinks). Default: all three, all
# tests (or the tests under the //PATTERNs given). tsan swaps in instrumented
# Abseil and protobuf built from Debian's source packages
# (tools/sanitizers/tsan_deps.sh fetches and builds them the first time;
# later runs reuse them).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
exclude=""
configs=()
patterns=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --exclude_tags) exclude="$2"; shift 2 ;;
    asan|ubsan|tsan) configs+=("$1"); shift ;;
    //*) patterns+=("$1"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_sanitizers: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ ${#configs[@]} -gt 0 ]] || configs=(asan ubsan tsan)

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[[ ${#patterns[@]} -gt 0 ]] || patterns=(//...)
scope="tests(set(${patterns[*]}))"
query="$scope"
IFS=',' read -ra tags <<<"$exclude"
for t in "${tags[@]}"; do
  [[ -n "$t" ]] && query="$query except attr(tags, '\\b$t\\b', $scope)"
done
mapfile -t tests < <(bazel query "$query" 2>/dev/null | sort)
[[ ${#tests[@]} -gt 0 ]] || { echo "run_sanitizers: no tests matched" >&2; exit 1; }

status=0
for c in "${configs[@]}"; do
  base="${XDG_CACHE_HOME:-$HOME/.cache}/ktvm-$c/$(echo -n "$root" | md5sum | cut -c1-12)"
  log="$root/.cache/ktvm/sanitizers/$c.log"
  mkdir -p "$(dirname "$log")"
  extra=()
  if [[ $c == tsan ]]; then
    read -ra extra < <("$root/tools/sanitizers/tsan_deps.sh")
    # Tests and the ktvm processes they start inherit this.
    extra+=("--test_env=TSAN_OPTIONS=suppressions=$root/tools/sanitizers/tsan.supp second_deadlock_stack=1")
  fi
  echo "[sanitizers] $c: ${#tests[@]} tests (log: $log)"
  if bazel --output_base="$base" test --config="$c" --config=ci --symlink_prefix=/ \
      "${extra[@]}" "${tests[@]}" >"$log" 2>&1; then
    echo "[sanitizers] $c: all passed"
  else
    status=1
    echo "[sanitizers] $c: FAILURES:"
    grep -E "^//.* (FAILED|TIMEOUT|NO STATUS)|FAILED TO BUILD" "$log" | sed 's/^/  /' || tail -20 "$log"
  fi
  grep -cE "^//.* PASSED" "$log" | sed "s/^/[sanitizers] $c: passed: /"
done
exit "$status"

#!/usr/bin/env bash
# Builds every ktvm_fuzz_target with libFuzzer (clang, ASan, UBSan) and runs
# each for a given time, then prints executions, coverage and findings.
#
#   tools/fuzz/run_fuzzers.sh [--time SECONDS] [--jobs N] [TARGET_PATTERN...]
#
# Corpora grow in .cache/ktvm/fuzz/corpus/<target>; crashes, leaks and
# timeouts land in .cache/ktvm/fuzz/findings/<target>. A separate Bazel
# output base keeps the clang toolchain away from the normal build cache.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
seconds=60
jobs=1
patterns=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "run_fuzzers: unknown flag $1" >&2; usage >&2; exit 2 ;;
    *) patterns+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "run_fuzzers: --time wants seconds" >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$root/.cache/ktvm/fuzz"
mkdir -p "$work/corpus" "$work/findings" "$work/logs"
# Outside the workspace (a foreign output base inside it would be scanned by
# //...), and without convenience symlinks so bazel-bin keeps pointing at the
# normal build.
fuzz_base="${XDG_CACHE_HOME:-$HOME/.cache}/ktvm-fuzz/$(echo -n "$root" | md5sum | cut -c1-12)"
bazel_cmd=(bazel --output_base="$fuzz_base")

if [[ ${#patterns[@]} -eq 0 ]]; then
  mapfile -t targets < <(bazel query 'attr(tags, "ktvm_fuzz", //...)' 2>/dev/null)
else
  query="$(printf 'attr(tags, "ktvm_fuzz", %s) + ' "${patterns[@]}")"
  mapfile -t targets < <(bazel query "${query% + }" 2>/dev/null)
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "run_fuzzers: no fuzz targets found" >&2; exit 1; }

echo "[fuzz] building ${#targets[@]} targets with --config=fuzz"
"${bazel_cmd[@]}" build --config=fuzz --symlink_prefix=/ "${targets[@]}" >"$work/logs/build.log" 2>&1 || {
  echo "[fuzz] build failed; see $work/logs/build.log" >&2; tail -30 "$work/logs/build.log" >&2; exit 1; }
bin_dir="$("${bazel_cmd[@]}" info --config=fuzz --symlink_prefix=/ bazel-bin 2>/dev/null)"

printf '%-48s %12s %8s %8s %9s\n' target executions cov ft findings
total_findings=0
for t in "${targets[@]}"; do
  pkg="${t#//}"; pkg="${pkg%%:*}"; name="${t##*:}"
  key="${pkg//\//_}_$name"
  corpus="$work/corpus/$key"; findings="$work/findings/$key"
  mkdir -p "$corpus" "$findings"
  # Seed from the target's corpus: its runfiles are the corpus files plus
  # the binary itself, shared-library links and external data a target
  # reads at start-up (the walker fuzzers' bzImage), all skipped here.
  runfiles="$bin_dir/$pkg/$name.runfiles/ktvm"
  if [[ -d "$runfiles" ]]; then
    find -L "$runfiles" -type f ! -path '*/_solib*' ! -path "$runfiles/external/*" \
      ! -name "$name" -print0 |
      while IFS= read -r -d '' f; do
        cp -n "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-16)-$(basename "$f")"
      done
  fi
  log="$work/logs/$key.log"
  echo "[fuzz] $t for ${seconds}s" >&2
  # With --jobs, libFuzzer writes fuzz-N.log files into the working directory.
  (cd "$work/logs" && "$bin_dir/$pkg/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      $( ((jobs > 1)) && echo -jobs="$jobs" -workers="$jobs") -print_final_stats=1 \
      -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1) || true
  ((jobs > 1)) && cat "$work"/logs/fuzz-*.log >>"$log" 2>/dev/null && rm -f "$work"/logs/fuzz-*.log
  last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
  execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  n="$(find "$findings" -type f | wc -l)"
  total_findings=$((total_findings + n))
  printf '%-48s %12s %8s %8s %9s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$n"
done
echo "[fuzz] logs in $work/logs, findings in $work/findings"
[[ $total_findings -eq 0 ]]

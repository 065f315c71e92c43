#!/bin/bash
# dumpview's command line on generated reports: summary, section filter,
# conversions that round trip, and the documented exit code for each kind of
# bad input.
set -u
DUMPVIEW=$1 BINARY=$2 JSON=$3 TRUNCATED=$4 NOT_A_REPORT=$5
TMP=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_exit CODE ARGS...: runs dumpview, checks the exit code and that
# errors are one "dumpview: error:" line.
expect_exit() {
  local want=$1; shift
  "$DUMPVIEW" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [[ $got == "$want" ]] || fail "dumpview $* exited $got, want $want: $(cat "$TMP/err")"
  if [[ $want != 0 ]]; then
    [[ $(wc -l <"$TMP/err") == 1 ]] && grep -q '^dumpview: error: ' "$TMP/err" ||
      fail "dumpview $*: error output is not one line: $(cat "$TMP/err")"
  fi
}

expect_exit 0 "$BINARY"
grep -q '^== sched_ext exit: ERROR_BPF (kind 1025)' "$TMP/out" || fail "no scx exit line"
grep -q '^  sdt_alloc task_allocator (elem_size=24' "$TMP/out" || fail "no sdt allocator"
grep -q 'magic = 0xfeedc0de' "$TMP/out" || fail "payload not rendered by name"
cp "$TMP/out" "$TMP/summary_binary"
expect_exit 0 "$JSON"
cmp -s "$TMP/out" "$TMP/summary_binary" || fail "JSON and binary summaries differ"

expect_exit 0 --section=scx_exit "$BINARY"
grep -q '^== sched_ext exit' "$TMP/out" || fail "section filter lost scx_exit"
grep -q '^== header' "$TMP/out" && fail "section filter kept header"

# binary -> json -> binary gives the same report (compared through JSON).
expect_exit 0 --format=json "$BINARY"
cp "$TMP/out" "$TMP/a.json"
grep -q '"kind": "SCX_EXIT_ERROR_BPF"' "$TMP/a.json" || fail "JSON lacks enum names"
expect_exit 0 --format=binary --output="$TMP/b.ktvm-dump" "$TMP/a.json"
expect_exit 0 --format=json "$TMP/b.ktvm-dump"
cmp -s "$TMP/out" "$TMP/a.json" || fail "json -> binary -> json changed the report"
expect_exit 0 --format=json --output="$TMP/c.json" "$BINARY"
cmp -s "$TMP/c.json" "$TMP/a.json" || fail "--output JSON differs from stdout JSON"
expect_exit 0 --output="$TMP/summary.txt" "$BINARY"
cmp -s "$TMP/summary.txt" "$TMP/summary_binary" || fail "--output text differs"

# --help prints the usage and the flags and exits 0 (vmm/parse_flags.h).
expect_exit 0 --help
cp "$TMP/out" "$TMP/help"
for word in --format --section --log_lines --output "Exit codes"; do
  grep -q -- "$word" "$TMP/help" || fail "--help does not mention $word"
done
expect_exit 2
expect_exit 2 "$BINARY" "$JSON"
expect_exit 2 --format=xml "$BINARY"
expect_exit 2 --section=bogus "$BINARY"
grep -q "bogus" "$TMP/err" || fail "bad section not named"
expect_exit 2 --log_lines=-1 "$BINARY"
# Malformed typed values and unknown flags fail inside Abseil's parser (its
# own "ERROR: ..." line): still exit 2.
for bad in --log_lines=abc --no_such_flag; do
  "$DUMPVIEW" "$bad" "$BINARY" >/dev/null 2>"$TMP/err"
  got=$?
  [[ $got == 2 ]] || fail "dumpview $bad exited $got, want 2"
  grep -q "ERROR: " "$TMP/err" || fail "dumpview $bad gave no reason"
done
expect_exit 3 "$TMP/does-not-exist"
expect_exit 4 "$TRUNCATED"
head -c 200 "$JSON" >"$TMP/truncated.json"
expect_exit 4 "$TMP/truncated.json"
# A binary report whose string holds invalid UTF-8 (proto3 rejects it):
# corrupt, with one error line and no protobuf log spam.
printf '\x0a\x03\x12\x01\xff' >"$TMP/bad_utf8.ktvm-dump"
expect_exit 4 "$TMP/bad_utf8.ktvm-dump"
expect_exit 5 "$NOT_A_REPORT"
: >"$TMP/empty"
expect_exit 5 "$TMP/empty"
expect_exit 5 "$TMP"
echo '{"unrelated": true}' >"$TMP/other.json"
expect_exit 5 "$TMP/other.json"
expect_exit 6 --format=json --output=/nonexistent-dir/x.json "$BINARY"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"

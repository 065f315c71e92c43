#!/usr/bin/env bash
# Fails if building ktvm would download anything.
#
# 1. Statically: WORKSPACE may only declare local repositories, and .bazelrc
#    must keep downloads disabled for every command.
# 2. For real: a second Bazel, with its own output root (so nothing is
#    cached), loads and analyses //... with the workspace's own .bazelrc.
#    Any repository that wanted a download fails that step at once.
set -euo pipefail

ws_file=$(readlink -f "$1")
ws=$(dirname "$ws_file")
echo "workspace: $ws"

fail() { echo "FAIL: $*" >&2; exit 1; }

if grep -nE '^\s*(http_archive|http_file|http_jar|git_repository|new_git_repository|maven_install|go_repository)\s*\(' "$ws/WORKSPACE"; then
  fail "WORKSPACE declares a repository that downloads"
fi
grep -qE '^(common|build|fetch|sync)\s.*--experimental_repository_disable_download' "$ws/.bazelrc" ||
  fail ".bazelrc does not disable downloads"
[[ ! -e $ws/.bazelversion ]] || [[ $(cat "$ws/.bazelversion") == 4* ]] ||
  fail ".bazelversion pins a version Debian's bazel wrapper rejects"
echo "static checks: ok"

root="${TEST_TMPDIR:-$(mktemp -d)}/bazel-root"
mkdir -p "$root"
cd "$ws"
export HOME="${HOME:-$root}"
# //... would also walk the outer Bazel's convenience symlinks (bazel-*), so
# name the top-level source folders instead.
patterns=(//:all)
for d in */; do
  d=${d%/}
  [[ $d == bazel-* ]] || patterns+=("//$d/...")
done
echo "analysing: ${patterns[*]}"
start=$(date +%s)
if ! bazel --batch --output_user_root="$root" build --nobuild \
  --experimental_convenience_symlinks=ignore "${patterns[@]}" >"$root/log" 2>&1; then
  tail -n 40 "$root/log" >&2
  fail "analysis of //... with downloads disabled failed"
fi
echo "fresh analysis of //... with downloads disabled: ok ($(( $(date +%s) - start )) s)"
rm -rf "$root"

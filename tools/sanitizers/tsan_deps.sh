#!/usr/bin/env bash
# Prepares ThreadSanitizer-instrumented @absl and @com_google_protobuf for
# `tools/run_sanitizers.sh tsan` and prints the Bazel flags that use them:
#
#   tools/sanitizers/tsan_deps.sh   ->  --override_repository=absl=... \
#                                       --override_repository=com_google_protobuf=...
#
# Why: Debian's libabsl and libprotobuf are not instrumented. TSan then
# cannot see absl::Mutex hand-offs (false races everywhere), and protobuf's
# MapFieldBase has extra members under __SANITIZE_THREAD__, so instrumented
# code and Debian's library disagree on its layout (a SEGV, not a race).
#
# The sources are bookworm's own source packages (the exact versions of the
# installed -dev packages), fetched with a private apt configuration
# (deb-src only; the system's apt state is never touched) into
# .cache/ktvm/tsan/. Abseil is built by Bazel itself (its BUILD files, only
# the targets used, with the tsan copts); libprotobuf.a is built once with
# CMake. Idempotent: a second run only prints the flags.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/ktvm"
OUT="$CACHE/tsan"
APTDIR="$OUT/apt"
ABSL_REPO="$OUT/absl"
PROTOBUF_REPO="$OUT/protobuf"

LOG_PREFIX=tsan_deps
LOG_DIR="$OUT/logs"
STEP_FD=2  # stdout carries the Bazel flags
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

# installed_version PKG: the version of the installed -dev package, so the
# instrumented library has the headers Bazel also sees under /usr/include.
installed_version() {
  dpkg-query -W -f='${Version}' "$1" 2>/dev/null ||
    fail "$1 is not installed (run tools/setup.sh)"
}

# fetch_source SRCPKG VERSION DIR: unpacks the Debian source package (Debian
# patches applied) into DIR, once.
fetch_source() {
  local pkg="$1" version="$2" dir="$3"
  [[ -f $dir/.unpacked-$version ]] && return 0
  if [[ ! -f $APTDIR/sources.list ]]; then
    mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/none"
    : >"$APTDIR/state/status"
    cat >"$APTDIR/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
EOF
    run apt-update apt_private update -q
  fi
  step "fetching Debian source $pkg=$version"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/dl"
  (cd "$dir.tmp/dl" && run "source-$pkg" apt_private source -q --download-only "$pkg=$version")
  run "unpack-$pkg" dpkg-source -x "$dir.tmp/dl/"*.dsc "$dir.tmp/src"
  rm -rf "$dir" && mv "$dir.tmp/src" "$dir" && rm -rf "$dir.tmp"
  touch "$dir/.unpacked-$version"
}

mkdir -p "$OUT"

# --- Abseil: its own Bazel BUILD files, behind the @absl target names -------
absl_version=$(installed_version libabsl-dev)
absl_src="$OUT/src/abseil"
fetch_source abseil "$absl_version" "$absl_src"
stamp="$absl_version $(md5sum <"$ROOT/tools/bazel/absl_source.BUILD" | cut -c1-12)"
if [[ $(cat "$ABSL_REPO/.stamp" 2>/dev/null) != "$stamp" ]]; then
  step "writing the Abseil source repository $ABSL_REPO"
  rm -rf "$ABSL_REPO.tmp" && mkdir -p "$ABSL_REPO.tmp"
  cp -r "$absl_src/absl" "$ABSL_REPO.tmp/absl"
  # bazel_skylib is not available offline; its only use is an any-of
  # config_setting for WebAssembly, which never matches here.
  python3 - "$ABSL_REPO.tmp/absl/BUILD.bazel" <<'EOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = text.replace('load("@bazel_skylib//lib:selects.bzl", "selects")\n', "")
text, n = re.subn(r"selects\.config_setting_group\(\n    name = \"wasm\",.*?\n\)\n",
                  'alias(\n    name = "wasm",\n    actual = ":cpu_wasm",\n'
                  '    visibility = [":__subpackages__"],\n)\n', text, flags=re.S)
if n != 1:
    sys.exit("absl/BUILD.bazel: the wasm config_setting_group was not found")
open(path, "w").write(text)
EOF
  # A distinct inline namespace: an object accidentally linked against
  # Debian's uninstrumented libabsl fails to link instead of mixing silently.
  sed -i 's/^#define ABSL_OPTION_INLINE_NAMESPACE_NAME .*/#define ABSL_OPTION_INLINE_NAMESPACE_NAME ktvm_tsan/' \
    "$ABSL_REPO.tmp/absl/base/options.h"
  grep -q 'INLINE_NAMESPACE_NAME ktvm_tsan' "$ABSL_REPO.tmp/absl/base/options.h" ||
    fail "absl/base/options.h: inline namespace not set"
  cp "$ROOT/tools/bazel/absl_source.BUILD" "$ABSL_REPO.tmp/BUILD.bazel"
  echo 'workspace(name = "absl")' >"$ABSL_REPO.tmp/WORKSPACE"
  echo "$stamp" >"$ABSL_REPO.tmp/.stamp"
  rm -rf "$ABSL_REPO" && mv "$ABSL_REPO.tmp" "$ABSL_REPO"
fi

# --- protobuf: libprotobuf.a with -fsanitize=thread, Debian's protoc --------
pb_version=$(installed_version libprotobuf-dev)
pb_src="$OUT/src/protobuf"
stamp="$pb_version"
if [[ $(cat "$PROTOBUF_REPO/.stamp" 2>/dev/null) != "$stamp" ]]; then
  fetch_source protobuf "$pb_version" "$pb_src"
  build="$OUT/build/protobuf"
  step "building libprotobuf $pb_version with -fsanitize=thread (once; minutes)"
  start=$(date +%s)
  rm -rf "$build" && mkdir -p "$build"
  run cmake-protobuf cmake -G Ninja -S "$pb_src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
    -Dprotobuf_WITH_ZLIB=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_FLAGS="-fsanitize=thread -g -O1"
  run build-protobuf nice -n 10 ninja -C "$build" -j"$(nproc)" libprotobuf
  step "libprotobuf built in $(($(date +%s) - start)) s"
  rm -rf "$PROTOBUF_REPO.tmp" && mkdir -p "$PROTOBUF_REPO.tmp"/{bin,lib,include/google}
  cp "$build/libprotobuf.a" "$PROTOBUF_REPO.tmp/lib/"
  ln -s /usr/bin/protoc "$PROTOBUF_REPO.tmp/bin/protoc"
  ln -s /usr/include/google/protobuf "$PROTOBUF_REPO.tmp/include/google/protobuf"
  cp "$ROOT/tools/bazel/protobuf_tsan.BUILD" "$PROTOBUF_REPO.tmp/BUILD.bazel"
  echo 'workspace(name = "com_google_protobuf")' >"$PROTOBUF_REPO.tmp/WORKSPACE"
  echo "$stamp" >"$PROTOBUF_REPO.tmp/.stamp"
  rm -rf "$PROTOBUF_REPO" "$build" && mv "$PROTOBUF_REPO.tmp" "$PROTOBUF_REPO"
fi
# Copied every time: a BUILD change must not rebuild the library.
cmp -s "$ROOT/tools/bazel/protobuf_tsan.BUILD" "$PROTOBUF_REPO/BUILD.bazel" ||
  cp "$ROOT/tools/bazel/protobuf_tsan.BUILD" "$PROTOBUF_REPO/BUILD.bazel"

# For a plain `bazel test --config=tsan` (.bazelrc try-imports this file).
rc="$OUT/tsan.bazelrc"
{
  echo "# Written by tools/sanitizers/tsan_deps.sh; .bazelrc try-imports it."
  echo "build:tsan --override_repository=absl=$ABSL_REPO --override_repository=com_google_protobuf=$PROTOBUF_REPO"
  echo "test:tsan \"--test_env=TSAN_OPTIONS=suppressions=$ROOT/tools/sanitizers/tsan.supp second_deadlock_stack=1\""
} >"$rc.tmp" && mv "$rc.tmp" "$rc"

echo "--override_repository=absl=$ABSL_REPO --override_repository=com_google_protobuf=$PROTOBUF_REPO"

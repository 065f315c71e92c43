#!/usr/bin/env bash
# ktvm's only set-up step on a fresh Debian 12 (bookworm) machine.
#
# Idempotent: every step checks whether its result is already present and
# returns at once if so, so a second run takes a few seconds.
#
# What it does:
#   1. adds the bookworm-backports suite (QEMU 10 lives there) to apt;
#   2. installs the bookworm packages the build, the tests and the guest need;
#   3. with a private apt configuration (never the system's), downloads the
#      newest sched_ext-capable Debian kernel from trixie-backports and the
#      matching linux-source package into .cache/ktvm/, and unpacks them;
#   3b. keeps the bzImage of bookworm's own kernel (no sched_ext) in
#      .cache/ktvm/kernel_no_scx/ for the bad-input tests;
#   4. builds libbpf (static, for host and guest) and bpftool from that
#      linux-source tree, so both match the test kernel;
#   5. extracts the kernel's ELF vmlinux and writes vmlinux.h for BPF code.
#
# Trixie binaries are only ever unpacked with dpkg-deb -x into the cache; they
# are never installed into the system (they would replace libc6).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Fixed location: WORKSPACE points Bazel repositories at it.
CACHE="$ROOT/.cache/ktvm"
export DEBIAN_FRONTEND=noninteractive

LOG_PREFIX=setup
LOG_DIR="$CACHE/logs"
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

mkdir -p "$CACHE"
[[ $(id -u) -eq 0 ]] || SUDO=sudo
SUDO="${SUDO:-}"

# --- 1. bookworm-backports ---------------------------------------------------
BPO_LIST=/etc/apt/sources.list.d/ktvm-bookworm-backports.sources
if [[ ! -f $BPO_LIST ]]; then
  step "adding bookworm-backports to apt sources ($BPO_LIST)"
  $SUDO tee "$BPO_LIST" >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT_UPDATED=0
fi

# --- 2. bookworm packages ----------------------------------------------------
PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java pkgconf build-essential
  libabsl-dev libprotobuf-dev protobuf-compiler python3-protobuf
  libgtest-dev libgmock-dev libbenchmark-dev
  libelf-dev zlib1g-dev libzstd-dev liblzma-dev liblz4-dev libbz2-dev
  # BPF toolchain and bpftool's build dependencies
  clang-22 llvm-22 lld-22 libclang-rt-22-dev bpftool libssl-dev libcap-dev
  # guest side
  busybox-static cpio zstd
  # private apt fetches
  apt-utils dpkg-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing bookworm packages: ${missing[*]}"
  run "apt update" $SUDO apt-get update -q
  APT_UPDATED=1
  run "apt install" $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "bookworm packages: all ${#PACKAGES[@]} present"
fi

# QEMU 10 from bookworm-backports: bookworm's 7.2 multi-threaded TCG oopses
# while sched_ext flips static keys.
qemu_version() { dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true; }
if [[ $(qemu_version) != *bpo12* ]]; then
  step "installing qemu-system-x86 from bookworm-backports"
  [[ ${APT_UPDATED:-0} == 1 ]] || run "apt update (backports)" $SUDO apt-get update -q
  run "apt install qemu" $SUDO apt-get install -y -q --no-install-recommends \
    -t bookworm-backports qemu-system-x86 qemu-utils
else
  step "qemu-system-x86 $(qemu_version) present"
fi

# --- 3. trixie kernel and linux-source through a private apt config ---------
APTDIR="$CACHE/apt"
APT_DEFAULT_RELEASE=trixie-backports
KERNEL_DIR="$CACHE/kernel"
if [[ ! -f $KERNEL_DIR/bzImage || ! -f $KERNEL_DIR/VERSION ]]; then
  step "resolving the newest trixie-backports kernel (private apt config in $APTDIR)"
  mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/none"
  : >"$APTDIR/state/status"
  cat >"$APTDIR/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
EOF
  run "private apt update" apt_private update -q
  # linux-image-amd64's candidate depends on linux-image-<ver>, which depends
  # on linux-binary-<ver>: resolve the version instead of hard-coding it.
  meta=$(apt_private -q -s install -t trixie-backports linux-image-amd64 2>/dev/null |
    sed -n 's/^Inst \(linux-image-[0-9][^ ]*-amd64\) .*/\1/p' | head -n1)
  [[ -n $meta ]] || meta=$(apt-cache -o Dir::Etc::SourceList="$APTDIR/sources.list" \
    -o Dir::Etc::SourceParts="$APTDIR/none" -o Dir::State="$APTDIR/state" \
    -o Dir::Cache="$APTDIR/cache" depends linux-image-amd64 2>/dev/null |
    sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*-amd64\).*/\1/p' | head -n1)
  [[ -n $meta ]] || fail "step 'resolve kernel': no linux-image-<ver>-amd64 found in trixie-backports"
  kver="${meta#linux-image-}"
  step "kernel $kver: downloading linux-binary-$kver"
  rm -rf "$KERNEL_DIR.tmp" && mkdir -p "$KERNEL_DIR.tmp/deb"
  (cd "$KERNEL_DIR.tmp/deb" && run "download kernel" apt_private download -q "linux-binary-$kver")
  run "unpack kernel" dpkg-deb -x "$KERNEL_DIR.tmp/deb/"linux-binary-*.deb "$KERNEL_DIR.tmp/root"
  vmlinuz="$KERNEL_DIR.tmp/root/usr/lib/modules/$kver/vmlinuz"
  [[ -f $vmlinuz ]] || vmlinuz=$(ls "$KERNEL_DIR.tmp/root/boot/vmlinuz-"* 2>/dev/null | head -n1)
  [[ -f $vmlinuz ]] || fail "step 'unpack kernel': no vmlinuz in linux-binary-$kver"
  cp "$vmlinuz" "$KERNEL_DIR.tmp/bzImage"
  echo "$kver" >"$KERNEL_DIR.tmp/VERSION"
  rm -rf "$KERNEL_DIR.tmp/deb" "$KERNEL_DIR.tmp/root"
  rm -rf "$KERNEL_DIR" && mv "$KERNEL_DIR.tmp" "$KERNEL_DIR"
fi
KVER=$(cat "$KERNEL_DIR/VERSION")
step "kernel $KVER at $KERNEL_DIR/bzImage"

# --- 3b. a kernel without sched_ext (bookworm's own 6.1) --------------------
# The bad-input test for "kernel without sched_ext" boots nothing: ktvm must
# refuse it from its BTF. Only the bzImage is kept; the package is never
# installed. Bookworm is the system suite, so the system apt config resolves it.
NO_SCX_DIR="$CACHE/kernel_no_scx"
if [[ ! -f $NO_SCX_DIR/bzImage || ! -f $NO_SCX_DIR/VERSION ]]; then
  # linux-image-amd64's candidate (bookworm or its security suite) depends on
  # linux-image-<release>.
  no_scx_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/.*Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n1)
  [[ -n $no_scx_pkg ]] || fail "step 'resolve bookworm kernel': linux-image-amd64 names no linux-image-6.1.*-amd64"
  no_scx_rel="${no_scx_pkg#linux-image-}"
  step "bookworm kernel $no_scx_rel (no sched_ext): downloading $no_scx_pkg"
  rm -rf "$NO_SCX_DIR.tmp" && mkdir -p "$NO_SCX_DIR.tmp/deb"
  (cd "$NO_SCX_DIR.tmp/deb" && run "download bookworm kernel" apt-get download -q "$no_scx_pkg")
  # Only ./boot/vmlinuz-*: the modules would unpack to ~400 MB.
  run "unpack bookworm kernel" bash -c 'dpkg-deb --fsys-tarfile "$1" |
    tar -x -C "$2" --strip-components=2 "./boot/vmlinuz-$3"' _ \
    "$NO_SCX_DIR.tmp/deb/$no_scx_pkg"_*.deb "$NO_SCX_DIR.tmp" "$no_scx_rel"
  [[ -f $NO_SCX_DIR.tmp/vmlinuz-$no_scx_rel ]] || fail "step 'unpack bookworm kernel': no vmlinuz-$no_scx_rel"
  mv "$NO_SCX_DIR.tmp/vmlinuz-$no_scx_rel" "$NO_SCX_DIR.tmp/bzImage"
  echo "$no_scx_rel" >"$NO_SCX_DIR.tmp/VERSION"
  rm -rf "$NO_SCX_DIR.tmp/deb"
  rm -rf "$NO_SCX_DIR" && mv "$NO_SCX_DIR.tmp" "$NO_SCX_DIR"
fi
step "kernel without sched_ext $(cat "$NO_SCX_DIR/VERSION") at $NO_SCX_DIR/bzImage"

# --- 4. libbpf and bpftool from the kernel's own linux-source --------------
SRC_DIR="$CACHE/linux-source"
if [[ ! -f $SRC_DIR/.unpacked ]]; then
  upstream="${KVER%%-*}"      # e.g. 7.3.1+deb13 -> 7.3.1+deb13
  series="${upstream%.*}"     # 7.3.1 -> 7.3 (the source package name)
  series="${series%%+*}"
  step "downloading linux-source-$series (matches kernel $KVER)"
  rm -rf "$SRC_DIR" && mkdir -p "$SRC_DIR/deb"
  (cd "$SRC_DIR/deb" && run "download linux-source" apt_private download -q "linux-source-$series")
  run "unpack linux-source deb" dpkg-deb -x "$SRC_DIR/deb/"linux-source-*.deb "$SRC_DIR/root"
  tarball=$(ls "$SRC_DIR/root/usr/src/"linux-source-*.tar.* | head -n1)
  step "unpacking tools/ from $(basename "$tarball")"
  mkdir -p "$SRC_DIR/tree"
  run "untar linux-source" tar -xf "$tarball" -C "$SRC_DIR/tree" --strip-components=1 \
    --wildcards '*/tools/*' '*/include/*' '*/scripts/*' '*/Makefile' '*/kernel/bpf/*'
  rm -rf "$SRC_DIR/deb" "$SRC_DIR/root"
  touch "$SRC_DIR/.unpacked"
fi

LIBBPF_DIR="$CACHE/libbpf"
if [[ ! -f $LIBBPF_DIR/lib/libbpf.a ]]; then
  step "building static libbpf from linux-source tools/lib/bpf"
  rm -rf "$LIBBPF_DIR" "$CACHE/build/libbpf"
  mkdir -p "$CACHE/build/libbpf"
  run "build libbpf" make -C "$SRC_DIR/tree/tools/lib/bpf" -j"$(nproc)" \
    OUTPUT="$CACHE/build/libbpf/" BUILD_STATIC_ONLY=y \
    prefix="$LIBBPF_DIR" LIBSUBDIR=lib libdir_relative=lib DESTDIR= install
  [[ -f $LIBBPF_DIR/lib/libbpf.a ]] || fail "step 'build libbpf': no libbpf.a"
fi
step "libbpf $(sed -n 's/^Version: //p' "$LIBBPF_DIR/lib/pkgconfig/libbpf.pc" 2>/dev/null) at $LIBBPF_DIR"

BPFTOOL="$CACHE/bin/bpftool"
if [[ ! -x $BPFTOOL ]]; then
  step "building bpftool from linux-source tools/bpf/bpftool"
  mkdir -p "$CACHE/bin" "$CACHE/build/bpftool"
  run "build bpftool" make -C "$SRC_DIR/tree/tools/bpf/bpftool" -j"$(nproc)" \
    OUTPUT="$CACHE/build/bpftool/" CLANG=clang-22 LLVM_STRIP=llvm-strip-22 \
    feature-llvm=0 feature-libcap=0
  cp "$CACHE/build/bpftool/bpftool" "$BPFTOOL"
fi
step "bpftool at $BPFTOOL"

# --- 5. vmlinux and vmlinux.h ------------------------------------------------
if [[ ! -f $KERNEL_DIR/vmlinux || ! -f $KERNEL_DIR/vmlinux.h ]]; then
  step "extracting ELF vmlinux from bzImage"
  run "extract vmlinux" bash "$ROOT/tools/extract_vmlinux.sh" "$KERNEL_DIR/bzImage" "$KERNEL_DIR/vmlinux.tmp"
  mv "$KERNEL_DIR/vmlinux.tmp" "$KERNEL_DIR/vmlinux"
  step "writing vmlinux.h from the kernel's BTF"
  "$BPFTOOL" btf dump file "$KERNEL_DIR/vmlinux" format c >"$KERNEL_DIR/vmlinux.h.tmp" ||
    fail "step 'vmlinux.h': bpftool btf dump failed"
  mv "$KERNEL_DIR/vmlinux.h.tmp" "$KERNEL_DIR/vmlinux.h"
fi
step "done: kernel $KVER, cache $CACHE"

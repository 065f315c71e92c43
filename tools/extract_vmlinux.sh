#!/usr/bin/env bash
# extract_vmlinux.sh BZIMAGE OUT: writes the ELF vmlinux inside a bzImage.
# Locates the compressed payload through the x86 setup header (setup_sects,
# payload_offset, payload_length) rather than scanning for magic numbers, then
# decompresses it with the tool for its format. Used by setup.sh only; ktvm
# itself does the same in C++ (btf/bzimage).
set -euo pipefail
in="$1" out="$2"
u8() { od -An -tu1 -j "$1" -N1 "$in" | tr -d ' '; }
u32() { od -An -tu4 -j "$1" -N4 "$in" | tr -d ' '; }
[[ $(od -An -c -j 0x202 -N4 "$in" | tr -d ' ') == HdrS ]] || { echo "$in: no HdrS setup header" >&2; exit 1; }
sects=$(u8 $((0x1f1))); ((sects)) || sects=4
off=$(( (sects + 1) * 512 + $(u32 $((0x248))) ))
len=$(u32 $((0x24c)))
magic=$(od -An -tx1 -j "$off" -N4 "$in" | tr -d ' ')
payload() { tail -c +$((off + 1)) "$in" | head -c "$len"; }
case "$magic" in
  28b52ffd) payload | zstd -dcq >"$out" 2>/dev/null || true ;;
  1f8b*) payload | gzip -dc >"$out" 2>/dev/null || true ;;
  fd377a58) payload | xz -dc >"$out" 2>/dev/null || true ;;
  02214c18) payload | lz4 -dc >"$out" 2>/dev/null || true ;;
  *) echo "$in: unknown payload compression (magic $magic)" >&2; exit 1 ;;
esac
[[ $(od -An -c -N4 "$out" | tr -d ' ') == 177ELF ]] || { echo "$in: payload did not decompress to an ELF" >&2; exit 1; }

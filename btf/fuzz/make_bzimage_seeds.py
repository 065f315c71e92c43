#!/usr/bin/env python3
"""Small bzImage fuzz seeds: the real kernel's setup code and header with
its payload replaced by a tiny one in each compression the loader knows, so
mutations explore the header and every decompressor without 14 MB inputs."""
import bz2, gzip, lzma, struct, subprocess, sys

bzimage, outdir = sys.argv[1], sys.argv[2]
data = open(bzimage, "rb").read()
setup_sects = data[0x1F1] or 4
setup = bytearray(data[: (setup_sects + 1) * 512])
body = b"\x7fELF" + bytes(range(256)) * 8  # stands for the decompressed vmlinux

def tool(argv):
    return subprocess.run(argv, input=body, stdout=subprocess.PIPE, check=True).stdout

payloads = {
    "gzip": gzip.compress(body),
    "bzip2": bz2.compress(body),
    "xz": lzma.compress(body, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    "lzma": lzma.compress(body, format=lzma.FORMAT_ALONE),
    "zstd": tool(["zstd", "-q", "-c", "-19"]),
    "lz4": tool(["lz4", "-q", "-l", "-c"]),
}
for name, p in payloads.items():
    # The kernel build appends the decompressed size (u32 LE).
    p = p + struct.pack("<I", len(body))
    img = bytearray(setup)
    struct.pack_into("<II", img, 0x248, 0x100, len(p))  # payload_offset/length
    pm = bytearray(0x100) + p
    open(f"{outdir}/{name}.bzimage", "wb").write(bytes(img + pm))

#!/usr/bin/env python3
"""Wraps the test guest's flat binary in a bzImage: a 2-sector real-mode
setup area whose setup header (Linux boot protocol 2.15) describes a
relocatable 64-bit kernel, followed by the protected-mode image.

usage: mkbzimage.py <flat binary> <ELF for init_size> <out>
"""
import struct
import sys

SETUP_SECTS = 1
PROTOCOL = 0x020F
LOADED_HIGH = 0x1
XLF_KERNEL_64 = 0x1
XLF_CAN_BE_LOADED_ABOVE_4G = 0x2
KERNEL_ALIGNMENT = 0x200000
PREF_ADDRESS = 0x1000000
HEADER_END = 0x268  # end of the 2.15 setup header


def image_span(elf_path):
    """Bytes from the first to the end of the last PT_LOAD (incl. .bss)."""
    data = open(elf_path, "rb").read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    lo, hi = None, 0
    for i in range(phnum):
        p_type, _, _, _, p_paddr, _, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_memsz:
            lo = p_paddr if lo is None else min(lo, p_paddr)
            hi = max(hi, p_paddr + p_memsz)
    return hi - lo


def main():
    flat = open(sys.argv[1], "rb").read()
    init_size = (image_span(sys.argv[2]) + 0xFFF) & ~0xFFF
    kernel = flat + b"\0" * (-len(flat) % 16)
    setup = bytearray(512 * (SETUP_SECTS + 1))
    struct.pack_into("<B", setup, 0x1F1, SETUP_SECTS)
    struct.pack_into("<I", setup, 0x1F4, len(kernel) // 16)  # syssize
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)  # boot_flag
    setup[0x200:0x202] = bytes([0xEB, HEADER_END - 0x202])  # jmp over header
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, PROTOCOL)
    struct.pack_into("<B", setup, 0x210, 0xFF)  # type_of_loader
    struct.pack_into("<B", setup, 0x211, LOADED_HIGH)
    struct.pack_into("<I", setup, 0x214, 0x100000)  # code32_start
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, KERNEL_ALIGNMENT)
    struct.pack_into("<B", setup, 0x234, 1)  # relocatable_kernel
    struct.pack_into("<B", setup, 0x235, 21)  # min_alignment (2 MiB)
    struct.pack_into("<H", setup, 0x236, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)
    struct.pack_into("<I", setup, 0x238, 2047)  # cmdline_size
    struct.pack_into("<Q", setup, 0x258, PREF_ADDRESS)
    struct.pack_into("<I", setup, 0x260, max(init_size, len(kernel)))
    with open(sys.argv[3], "wb") as out:
        out.write(bytes(setup) + kernel)


if __name__ == "__main__":
    main()

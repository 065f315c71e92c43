#!/usr/bin/env python3
"""Writes ioapic_fuzzer seeds: what Linux does to an IOAPIC at boot and at
run time (arch/x86/kernel/apic/io_apic.c), in the fuzzer's record encoding
{op, arg, value u32 LE}; op % 5: 0 MMIO write, 1 MMIO read (width
1 << (op / 8 % 4)), 2 SetIrq(arg % 26 - 1, value & 1), 3 EOI(arg),
4 IOREGSEL = arg then IOWIN = value.

Usage: make_ioapic_seeds.py OUT_DIR
"""
import os
import struct
import sys

MMIO_WRITE32, MMIO_READ32 = 0 | (2 << 3), 1 | (2 << 3)
SET_IRQ, EOI, REGISTER = 2, 3, 4
MASKED, LEVEL, ACTIVE_LOW = 1 << 16, 1 << 15, 1 << 13


def rec(op, arg, value=0):
    return struct.pack("<BBI", op, arg, value & 0xFFFFFFFF)


def program(pin, entry):
    # ioapic_write_entry: high word first, so the low word (with the mask
    # bit) takes effect last.
    return rec(REGISTER, 0x10 + 2 * pin + 1, entry >> 32) + rec(
        REGISTER, 0x10 + 2 * pin, entry)


def irq(pin, asserted):
    return rec(SET_IRQ, pin + 1, 1 if asserted else 0)


def boot():
    out = rec(REGISTER, 0x01, 0)  # io_apic_get_version reads register 1
    out += rec(MMIO_WRITE32, 0x00, 0x01) + rec(MMIO_READ32, 0x10)
    out += rec(MMIO_WRITE32, 0x00, 0x00) + rec(MMIO_READ32, 0x10)  # id
    for pin in range(24):  # clear_IO_APIC: mask every pin
        out += program(pin, MASKED)
    return out


def seeds():
    # COM1 on pin 4: edge, vector 0x24, destination APIC 3; it fires twice.
    com1 = boot() + program(4, (3 << 56) | 0x24)
    com1 += irq(4, True) + irq(4, False) + irq(4, True) + irq(4, False)
    # ACPI SCI on pin 9: level, active low, vector 0x29; asserted, EOI'd by
    # vector (KVM's EOI exit) while still asserted, then via the EOI register.
    sci = boot() + program(9, (1 << 56) | LEVEL | ACTIVE_LOW | 0x29)
    sci += irq(9, True) + rec(EOI, 0x29) + rec(MMIO_WRITE32, 0x40, 0x29)
    sci += irq(9, False) + rec(EOI, 0x29)
    # Masking a pin while it is asserted, then unmasking it (irq migration).
    remask = boot() + program(11, LEVEL | 0x31) + irq(11, True)
    remask += program(11, LEVEL | MASKED | 0x31) + rec(EOI, 0x31)
    remask += program(11, (2 << 56) | LEVEL | 0x32)
    # x2APIC destination 0x2c5 through the extended destination id.
    x2apic = boot() + program(2, (0xC5 << 56) | (0x02 << 49) | 0x40)
    x2apic += irq(2, True)
    return {
        "linux_boot.bin": boot(),
        "com1_edge.bin": com1,
        "acpi_sci_level.bin": sci,
        "remask_while_asserted.bin": remask,
        "x2apic_ext_dest.bin": x2apic,
    }


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

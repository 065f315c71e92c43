#include "vmm/x86_64/gdt.h"

namespace ktvm::vmm::x86_64 {
namespace {

// Access byte | flags nibble << 12.
constexpr uint16_t kCode64Flags = 0xa09b;  // G, L, present, exec/read, acc.
constexpr uint16_t kCode32Flags = 0xc09b;  // G, D, present, exec/read, acc.
constexpr uint16_t kDataFlags = 0xc093;    // G, D/B, present, read/write, acc.
constexpr uint16_t kTssFlags = 0x808b;     // G, present, busy 32/64-bit TSS

}  // namespace

uint64_t GdtEntry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((static_cast<uint64_t>(base) & 0xff000000ULL) << (56 - 24)) |
         ((static_cast<uint64_t>(flags) & 0x0000f0ffULL) << 40) |
         ((static_cast<uint64_t>(limit) & 0x000f0000ULL) << (48 - 16)) |
         ((static_cast<uint64_t>(base) & 0x00ffffffULL) << 16) |
         (static_cast<uint64_t>(limit) & 0x0000ffffULL);
}

kvm_segment SegmentFromGdtEntry(uint64_t entry, uint16_t selector) {
  kvm_segment seg{};
  seg.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
  uint32_t limit = (entry & 0xffff) | (((entry >> 48) & 0xf) << 16);
  seg.g = (entry >> 55) & 1;
  // KVM expects the limit in bytes.
  seg.limit = seg.g ? (limit << 12) | 0xfff : limit;
  seg.selector = selector;
  seg.type = (entry >> 40) & 0xf;
  seg.s = (entry >> 44) & 1;
  seg.dpl = (entry >> 45) & 3;
  seg.present = (entry >> 47) & 1;
  seg.avl = (entry >> 52) & 1;
  seg.l = (entry >> 53) & 1;
  seg.db = (entry >> 54) & 1;
  seg.unusable = seg.present ? 0 : 1;
  return seg;
}

std::array<uint64_t, kBootGdtEntries> BootGdt64() {
  return {0, 0, GdtEntry(kCode64Flags, 0, 0xfffff),
          GdtEntry(kDataFlags, 0, 0xfffff), GdtEntry(kTssFlags, 0, 0xfffff)};
}

std::array<uint64_t, kBootGdtEntries> BootGdt32() {
  return {0, 0, GdtEntry(kCode32Flags, 0, 0xfffff),
          GdtEntry(kDataFlags, 0, 0xfffff), GdtEntry(kTssFlags, 0, 0xfffff)};
}

}  // namespace ktvm::vmm::x86_64

#include "vmm/x86_64/regs.h"

#include <cstring>

#include "vmm/x86_64/gdt.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint64_t kCr0Pe = 1ULL << 0;
constexpr uint64_t kCr0Et = 1ULL << 4;
constexpr uint64_t kCr0Pg = 1ULL << 31;
constexpr uint64_t kCr4Pae = 1ULL << 5;
constexpr uint64_t kEferLme = 1ULL << 8;
constexpr uint64_t kEferLma = 1ULL << 10;
constexpr uint64_t kRflagsReserved = 1ULL << 1;

template <size_t N>
void LoadSegments(kvm_sregs& sregs, const std::array<uint64_t, N>& gdt) {
  const kvm_segment code =
      SegmentFromGdtEntry(gdt[kBootCodeSelector / 8], kBootCodeSelector);
  const kvm_segment data =
      SegmentFromGdtEntry(gdt[kBootDataSelector / 8], kBootDataSelector);
  const kvm_segment tss =
      SegmentFromGdtEntry(gdt[kBootTssSelector / 8], kBootTssSelector);
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = tss;
  sregs.gdt.base = kGdtAddr;
  sregs.gdt.limit = static_cast<uint16_t>(N * 8 - 1);
  sregs.idt.base = kIdtAddr;
  sregs.idt.limit = 0;  // any exception before the kernel's IDT triple-faults
}

}  // namespace

kvm_sregs LongModeSregs(const kvm_sregs& base) {
  kvm_sregs sregs = base;
  LoadSegments(sregs, BootGdt64());
  sregs.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
  sregs.cr3 = kPml4Addr;
  sregs.cr4 = kCr4Pae;
  sregs.efer = kEferLme | kEferLma;
  return sregs;
}

kvm_sregs ProtectedMode32Sregs(const kvm_sregs& base) {
  kvm_sregs sregs = base;
  LoadSegments(sregs, BootGdt32());
  sregs.cr0 = kCr0Pe | kCr0Et;
  sregs.cr3 = 0;
  sregs.cr4 = 0;
  sregs.efer = 0;
  return sregs;
}

kvm_regs BzImageEntryRegs(uint64_t entry, uint64_t boot_params_addr) {
  kvm_regs regs{};
  regs.rip = entry;
  regs.rsi = boot_params_addr;
  regs.rflags = kRflagsReserved;
  return regs;
}

kvm_regs PvhEntryRegs(uint64_t entry, uint64_t start_info_addr) {
  kvm_regs regs{};
  regs.rip = entry;
  regs.rbx = start_info_addr;
  regs.rflags = kRflagsReserved;
  return regs;
}

kvm_fpu DefaultFpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  return fpu;
}

kvm_lapic_state WithVirtualWireLint(const kvm_lapic_state& lapic) {
  kvm_lapic_state out = lapic;
  auto set_delivery_mode = [&out](int reg, uint32_t mode) {
    uint32_t value;
    std::memcpy(&value, out.regs + reg, sizeof(value));
    value = (value & ~0x700u) | (mode << 8);
    std::memcpy(out.regs + reg, &value, sizeof(value));
  };
  set_delivery_mode(kApicLvt0, kApicDeliveryExtInt);
  set_delivery_mode(kApicLvt1, kApicDeliveryNmi);
  return out;
}

}  // namespace ktvm::vmm::x86_64

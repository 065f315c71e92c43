// Puts everything a kernel needs into guest RAM before the first instruction:
// the kernel (bzImage protected-mode part, or PVH ELF segments), initramfs,
// command line, GDT, identity page tables, ACPI and MP tables, and the zero
// page (bzImage) or hvm_start_info (PVH).
#ifndef KTVM_VMM_X86_64_KERNEL_LOADER_H_
#define KTVM_VMM_X86_64_KERNEL_LOADER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/kvm/guest_ram.h"

namespace ktvm::vmm::x86_64 {

enum class BootEntry { kBzImage64, kPvh32 };

struct KernelBoot {
  BootEntry entry_kind;
  uint64_t entry;      // first instruction's guest-physical address
  uint64_t boot_info;  // boot_params (RSI) or hvm_start_info (EBX)
  uint64_t kernel_addr;
  uint64_t kernel_end;
  uint64_t initrd_addr;
  uint64_t initrd_size;
  std::string cmdline;
  uint16_t protocol;  // bzImage boot protocol; 0 for PVH
};

// Checks, before any VM exists, that `kernel` is a bootable image (bzImage or
// PVH ELF) and that it and an initramfs of `initrd_size` bytes fit in
// `memory_bytes` of guest RAM. Errors are the user's (InvalidArgument,
// OutOfRange) and name the value at fault.
absl::Status CheckKernelFits(absl::Span<const uint8_t> kernel,
                             uint64_t initrd_size, uint64_t memory_bytes);

// `ram_below_hole`/`ram_above_4g` describe the RAM layout for E820.
absl::StatusOr<KernelBoot> LoadKernel(const GuestRam& ram,
                                      absl::Span<const uint8_t> kernel,
                                      absl::Span<const uint8_t> initrd,
                                      std::string_view extra_cmdline,
                                      int num_cpus);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_KERNEL_LOADER_H_

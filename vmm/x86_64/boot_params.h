// Places a bzImage, its command line and an initramfs in guest RAM and fills
// the zero page (struct boot_params) the 64-bit entry point reads.
#ifndef KTVM_VMM_X86_64_BOOT_PARAMS_H_
#define KTVM_VMM_X86_64_BOOT_PARAMS_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/x86_64/e820.h"
#include "vmm/x86_64/setup_header.h"

namespace ktvm::vmm::x86_64 {

// The command line ktvm always passes; --cmdline is appended (a later
// panic=N wins). panic=5, not -1: a panicking kernel stays up for 5 s before
// it resets, so freeze-and-dump freezes it with the panic's registers
// instead of racing the reset; ktvm stops the guest once the report is out.
inline constexpr std::string_view kDefaultKernelCmdline =
    "console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 reboot=k panic=5 "
    "noreplace-smp tsc=reliable";

// Joins the default and the user's words; error if the result, with its NUL,
// does not fit the kernel's limit (min of cmdline_size+1 and 2048).
absl::StatusOr<std::string> BuildKernelCmdline(std::string_view user_words,
                                               uint32_t header_cmdline_size);

struct LoadPlan {
  uint64_t kernel_addr;
  uint64_t kernel_end;  // kernel_addr + init_size: free memory from here
  uint64_t entry64;
  uint64_t initrd_addr;  // 0 when there is no initramfs
  uint64_t initrd_size;
};

// Where the kernel and the initramfs go, given `ram_below_hole` bytes of RAM
// from address 0. Errors (OutOfRange) say which does not fit and by how much.
absl::StatusOr<LoadPlan> PlanBzImageLoad(const BzImage& image,
                                         uint64_t ram_below_hole,
                                         uint64_t initrd_size);

struct BootParamsInput {
  const BzImage* image;
  absl::Span<const uint8_t> image_bytes;  // for the raw header bytes
  LoadPlan plan;
  uint64_t cmdline_addr;
  uint64_t cmdline_size;    // without the NUL
  uint64_t acpi_rsdp_addr;  // 0: none
  std::vector<E820Entry> e820;
};

absl::StatusOr<boot_params> BuildBootParams(const BootParamsInput& in);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_BOOT_PARAMS_H_

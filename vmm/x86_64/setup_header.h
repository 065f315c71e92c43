// Parsing and validation of a bzImage's setup header (Linux x86 boot
// protocol, Documentation/arch/x86/boot.rst). ktvm enters the kernel at its
// 64-bit entry point, which needs protocol 2.12 or newer.
#ifndef KTVM_VMM_X86_64_SETUP_HEADER_H_
#define KTVM_VMM_X86_64_SETUP_HEADER_H_

#include <asm/bootparam.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::vmm::x86_64 {

inline constexpr uint16_t kMinBootProtocol = 0x020c;  // 2.12
inline constexpr uint32_t kSetupHeaderOffset = 0x1f1;
inline constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kBootFlag = 0xaa55;
// The 64-bit entry sits 0x200 bytes into the protected-mode kernel.
inline constexpr uint64_t kEntry64Offset = 0x200;

struct BzImage {
  setup_header header;  // as found in the file
  // Bytes of the header actually present (0x202 + the jump byte), which the
  // loader copies into boot_params.
  size_t header_bytes;
  uint16_t protocol;  // e.g. 0x020f for 2.15
  // Offset of the protected-mode kernel in the file and its length.
  size_t kernel_offset;
  size_t kernel_size;
  bool relocatable;
  bool initrd_above_4g_ok;
  uint32_t kernel_alignment;
  // Memory the kernel needs from its load address during decompression.
  uint32_t init_size;
  uint32_t initrd_addr_max;
  uint32_t cmdline_size;  // max bytes excluding the NUL
  uint64_t pref_address;
};

// Errors name the field and the offending value: InvalidArgument for "this is
// not a bzImage / protocol too old / unsupported", OutOfRange for truncation.
absl::StatusOr<BzImage> ParseBzImage(absl::Span<const uint8_t> image);

std::string ProtocolString(uint16_t protocol);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_SETUP_HEADER_H_

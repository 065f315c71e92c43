#include "vmm/x86_64/setup_header.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr size_t kSectorSize = 512;
constexpr size_t kJumpOffset = 0x200;  // 2-byte short jump; byte 0x201 = disp
constexpr size_t kHeaderMagicEnd = 0x206;
constexpr uint16_t kProtocolInitSize = 0x020a;  // init_size, pref_address

}  // namespace

std::string ProtocolString(uint16_t protocol) {
  return absl::StrFormat("%d.%02d", protocol >> 8, protocol & 0xff);
}

absl::StatusOr<BzImage> ParseBzImage(absl::Span<const uint8_t> image) {
  if (image.size() < kHeaderMagicEnd) {
    return absl::OutOfRangeError(absl::StrFormat(
        "image is %d bytes, too short to hold a setup header (need at least "
        "%d)",
        image.size(), kHeaderMagicEnd));
  }
  BzImage out{};
  const size_t jump_end = kJumpOffset + 2 + image[kJumpOffset + 1];
  out.header_bytes = jump_end - kSetupHeaderOffset;
  if (out.header_bytes > sizeof(setup_header)) {
    out.header_bytes = sizeof(setup_header);
  }
  if (image.size() < kSetupHeaderOffset + out.header_bytes) {
    return absl::OutOfRangeError(
        absl::StrFormat("image is %d bytes, setup header ends at %d",
                        image.size(), kSetupHeaderOffset + out.header_bytes));
  }
  std::memcpy(
      &out.header, image.data() + kSetupHeaderOffset,
      std::min(sizeof(setup_header), image.size() - kSetupHeaderOffset));
  const setup_header& h = out.header;
  if (h.boot_flag != kBootFlag) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not a bzImage: boot_flag at 0x1fe is 0x%04x, expected 0x%04x",
        uint16_t{h.boot_flag}, kBootFlag));
  }
  if (h.header != kHdrSMagic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not a bzImage: no \"HdrS\" magic at 0x202 (found 0x%08x)", uint32_t{h.header}));
  }
  out.protocol = h.version;
  if (h.version < kMinBootProtocol) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "boot protocol %s is too old: ktvm needs %s or newer (64-bit entry)",
        ProtocolString(h.version), ProtocolString(kMinBootProtocol)));
  }
  if (!(h.loadflags & LOADED_HIGH)) {
    return absl::InvalidArgumentError(
        "loadflags lacks LOADED_HIGH: a zImage loaded at 0x10000 is not "
        "supported");
  }
  if (!(h.xloadflags & XLF_KERNEL_64)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "xloadflags 0x%x lacks XLF_KERNEL_64: the kernel has no 64-bit entry "
        "point",
        uint16_t{h.xloadflags}));
  }
  const size_t setup_sects = h.setup_sects == 0 ? 4 : h.setup_sects;
  out.kernel_offset = (setup_sects + 1) * kSectorSize;
  const uint64_t syssize_bytes = static_cast<uint64_t>(h.syssize) * 16;
  if (syssize_bytes == 0) {
    return absl::InvalidArgumentError("syssize is 0: no protected-mode kernel");
  }
  if (out.kernel_offset + syssize_bytes > image.size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "truncated bzImage: setup (%d bytes) + kernel (syssize %d*16 = %d "
        "bytes) exceed the file's %d bytes",
        out.kernel_offset, uint32_t{h.syssize}, syssize_bytes, image.size()));
  }
  // The file may carry trailing bytes (signatures); load what syssize says
  // plus anything after it, as other loaders do.
  out.kernel_size = image.size() - out.kernel_offset;
  out.relocatable = h.relocatable_kernel != 0;
  out.initrd_above_4g_ok = (h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G) != 0;
  out.kernel_alignment = h.kernel_alignment;
  if (out.relocatable &&
      (out.kernel_alignment == 0 ||
       (out.kernel_alignment & (out.kernel_alignment - 1)))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel_alignment 0x%x is not a power of two", out.kernel_alignment));
  }
  out.init_size = h.version >= kProtocolInitSize ? h.init_size : 0;
  if (out.init_size != 0 && out.init_size < syssize_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "init_size 0x%x is smaller than the kernel itself (0x%x bytes)",
        out.init_size, syssize_bytes));
  }
  if (out.init_size == 0) out.init_size = static_cast<uint32_t>(syssize_bytes);
  out.initrd_addr_max = h.initrd_addr_max;
  out.cmdline_size = h.cmdline_size;
  out.pref_address = h.pref_address;
  return out;
}

}  // namespace ktvm::vmm::x86_64

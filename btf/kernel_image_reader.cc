#include "btf/kernel_image_reader.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"

namespace ktvm::btf {

ReadVirtualFn KernelImageReader(ReadPhysicalFn read_physical,
                                uint64_t phys_base) {
  return [read = std::move(read_physical), phys_base](
             uint64_t va, absl::Span<uint8_t> out) -> absl::Status {
    if (va < kX86StartKernelMap) {
      return absl::OutOfRangeError(
          absl::StrFormat("0x%x is not a kernel-image address", va));
    }
    return read(va - kX86StartKernelMap + phys_base, out);
  };
}

ReadVirtualFn KernelImageReader(absl::Span<const uint8_t> ram,
                                uint64_t phys_base) {
  return KernelImageReader(
      [ram](uint64_t pa, absl::Span<uint8_t> out) -> absl::Status {
        if (pa > ram.size() || out.size() > ram.size() - pa) {
          return absl::OutOfRangeError(absl::StrFormat(
              "physical [0x%x, +0x%x) is outside the %u-byte guest RAM", pa,
              out.size(), ram.size()));
        }
        std::memcpy(out.data(), ram.data() + pa, out.size());
        return absl::OkStatus();
      },
      phys_base);
}

}  // namespace ktvm::btf

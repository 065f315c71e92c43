// How btf/ reads guest virtual memory without depending on a particular
// reader: memory::VirtualMemoryReader, a kernel-image mapping of a RAM file,
// or a test buffer all adapt to this.
#ifndef KTVM_BTF_READ_VIRTUAL_H_
#define KTVM_BTF_READ_VIRTUAL_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ktvm::btf {

using ReadVirtualFn =
    std::function<absl::Status(uint64_t va, absl::Span<uint8_t> out)>;

}  // namespace ktvm::btf

#endif  // KTVM_BTF_READ_VIRTUAL_H_

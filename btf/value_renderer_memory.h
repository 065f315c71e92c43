// The renderer's one call into the memory module, kept in its own file so
// the renderer builds while memory/ is still being written.
#ifndef KTVM_BTF_VALUE_RENDERER_MEMORY_H_
#define KTVM_BTF_VALUE_RENDERER_MEMORY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ktvm::memory {
class VirtualMemoryReader;
}  // namespace ktvm::memory

namespace ktvm::btf {

absl::Status ReadThroughReader(const memory::VirtualMemoryReader* reader,
                               uint64_t va, absl::Span<uint8_t> out);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_VALUE_RENDERER_MEMORY_H_

#include "btf/value_renderer_memory.h"

#include "memory/virtual_memory.h"

namespace ktvm::btf {

absl::Status ReadThroughReader(const memory::VirtualMemoryReader* reader,
                               uint64_t va, absl::Span<uint8_t> out) {
  if (reader == nullptr) {
    return absl::FailedPreconditionError("no memory reader");
  }
  return reader->ReadVirtual(va, out);
}

}  // namespace ktvm::btf

// Used until //memory:virtual_memory exists: RenderOptions.memory cannot be
// called yet, so pointer targets are reported as skipped with this reason.
// Replace with value_renderer_memory.cc in BUILD once memory/ lands.
#include "absl/strings/str_format.h"
#include "btf/value_renderer_memory.h"

namespace ktvm::btf {

absl::Status ReadThroughReader(const memory::VirtualMemoryReader* reader,
                               uint64_t va, absl::Span<uint8_t> out) {
  return absl::UnimplementedError(absl::StrFormat(
      "reading 0x%x: RenderOptions.memory is not wired yet (memory module "
      "not built); use RenderOptions.read_virtual",
      va));
}

}  // namespace ktvm::btf

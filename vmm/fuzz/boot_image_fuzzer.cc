// The kernel image the user passes is parsed twice before boot: as a
// bzImage setup header and, failing that, as an ELF vmlinux with a PVH
// note. Both parsers must reject any file cleanly.
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "vmm/x86_64/pvh.h"
#include "vmm/x86_64/setup_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> image(data, size);
  (void)ktvm::vmm::x86_64::ParseBzImage(image);
  (void)ktvm::vmm::x86_64::ParsePvhElf(image);
  return 0;
}

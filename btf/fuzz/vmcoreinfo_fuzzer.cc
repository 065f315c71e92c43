// VMCOREINFO comes from guest memory a crashed kernel may have scribbled
// over: the text parser and the physical-memory note scan must reject
// anything malformed without crashing or reading past the region.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/types/span.h"
#include "btf/vmcoreinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto info = ktvm::btf::ParseVmcoreinfo(text); info.ok()) {
    (void)info->KernelPageTableRoot();
    (void)info->Symbol("_stext");
  }
  const absl::Span<const uint8_t> region(data, size);
  (void)ktvm::btf::FindVmcoreinfo(region, 0x1000000);
  return 0;
}

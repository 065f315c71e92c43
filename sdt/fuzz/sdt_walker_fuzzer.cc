// Fuzzes the sdt_alloc walker over arbitrary arena contents. The input is
// the scx_allocator bytes (40) followed by arena page contents (see
// sdt_walker_fuzz_input.h for the encoding), so random inputs still build
// trees the walker descends. Invariant: every input ends (bounded) without
// a crash, with entries within the cap.
#include <cstdint>
#include <cstdlib>

#include "sdt/fuzz/sdt_walker_fuzz_input.h"
#include "sdt/sdt_walker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ktvm::report::SdtAllocatorSnapshot snap =
      ktvm::sdt::fuzz::WalkFuzzInput(absl::MakeConstSpan(data, size));
  if (snap.entries_size() > static_cast<int>(ktvm::sdt::kMaxSdtAllocEntries)) {
    std::abort();
  }
  return 0;
}

// A bzImage is a file the user hands us: the setup-header parser and every
// decompressor must treat it as hostile. Output is capped small so a
// decompression bomb shows up as an error, not as memory exhaustion.
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "btf/bzimage.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> input(data, size);
  if (auto payload = ktvm::btf::LocatePayload(input); payload.ok()) {
    (void)ktvm::btf::DecompressPayload(payload->data, payload->compression,
                                       uint64_t{8} << 20);
  }
  // The bytes themselves as a payload of each detected kind.
  if (auto kind = ktvm::btf::DetectCompression(input); kind.ok()) {
    (void)ktvm::btf::DecompressPayload(input, *kind, uint64_t{8} << 20);
  }
  return 0;
}

// The x86 bzImage format: where the compressed kernel payload sits (per the
// boot protocol's setup header) and how to decompress it.
#ifndef KTVM_BTF_BZIMAGE_H_
#define KTVM_BTF_BZIMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::btf {

enum class Compression { kGzip, kBzip2, kLzma, kXz, kLzo, kLz4, kZstd, kNone };

std::string CompressionName(Compression c);

// Detects the compression from the payload's first bytes; NotFound/
// Unimplemented error naming the magic when unknown.
absl::StatusOr<Compression> DetectCompression(absl::Span<const uint8_t> data);

struct BzImagePayload {
  uint16_t boot_protocol = 0;  // e.g. 0x20f
  uint32_t setup_sects = 0;
  // File offset of the payload (protected-mode code start + payload_offset).
  uint64_t file_offset = 0;
  absl::Span<const uint8_t> data;
  Compression compression = Compression::kNone;
};

// Reads the setup header (setup_sects at 0x1f1, "HdrS" at 0x202,
// payload_offset/length at 0x248/0x24c; boot protocol >= 2.08).
absl::StatusOr<BzImagePayload> LocatePayload(absl::Span<const uint8_t> bzimage);

// Decompresses a kernel payload. The kernel's build appends the
// decompressed size as a little-endian u32, used here only as a size hint.
// Output is capped at `max_output` bytes.
absl::StatusOr<std::vector<uint8_t>> DecompressPayload(
    absl::Span<const uint8_t> payload, Compression compression,
    uint64_t max_output = uint64_t{1} << 30);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_BZIMAGE_H_

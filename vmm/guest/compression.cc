#include "vmm/guest/compression.h"

#include <zlib.h>
#include <zstd.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::guest {

absl::StatusOr<std::string> CompressZstd(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n =
      ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) {
    return absl::InternalError(
        absl::StrFormat("zstd compression of %d bytes failed: %s", data.size(),
                        ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> CompressGzip(std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper the kernel expects.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError("zlib deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return absl::InternalError(absl::StrFormat(
        "gzip compression of %d bytes failed (zlib rc %d)", data.size(), rc));
  }
  out.resize(produced);
  return out;
}

}  // namespace ktvm::guest

// Whole-buffer compression in formats the kernel's initramfs unpacker reads.
#ifndef KTVM_VMM_GUEST_COMPRESSION_H_
#define KTVM_VMM_GUEST_COMPRESSION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ktvm::guest {

absl::StatusOr<std::string> CompressZstd(std::string_view data, int level = 3);
absl::StatusOr<std::string> CompressGzip(std::string_view data, int level = 6);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_COMPRESSION_H_

// Recognises what the kernel can unpack as an initramfs, so a file that is
// none of it is refused before the boot instead of ending in "Initramfs
// unpacking failed" and a panic for want of an init.
#ifndef KTVM_VMM_GUEST_INITRAMFS_FORMAT_H_
#define KTVM_VMM_GUEST_INITRAMFS_FORMAT_H_

#include <string_view>

#include "absl/status/status.h"

namespace ktvm::guest {

// OK when `image`, after the NUL padding the kernel skips, starts like a
// newc cpio archive or a stream of a decompressor the kernel has (gzip,
// bzip2, lzma, xz, lzo, lz4, zstd). InvalidArgument otherwise, naming the
// first bytes. Only the start is looked at: a damaged archive further in is
// still the kernel's to report.
absl::Status CheckInitramfsFormat(std::string_view image);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_INITRAMFS_FORMAT_H_

#include "vmm/guest/initramfs_format.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace ktvm::guest {
namespace {

using namespace std::string_view_literals;

// The magics of the kernel's initramfs unpacker (init/initramfs.c, cpio
// newc and its CRC variant) and of lib/decompress.c.
constexpr std::string_view kMagics[] = {
    "070701"sv,                        // cpio newc
    "070702"sv,                        // cpio newc with CRC
    "\x1f\x8b"sv,                      // gzip
    "\x1f\x9e"sv,                      // old gzip
    "BZh"sv,                           // bzip2
    "\x5d\x00\x00"sv,                  // lzma
    "\xfd\x37\x7a\x58\x5a\x00"sv,      // xz
    "\x89\x4c\x5a\x4f\x00\x0d\x0a"sv,  // lzop
    "\x02\x21\x4c\x18"sv,              // lz4 legacy
    "\x28\xb5\x2f\xfd"sv,              // zstd
};

}  // namespace

absl::Status CheckInitramfsFormat(std::string_view image) {
  if (image.empty()) return absl::InvalidArgumentError("is empty");
  const size_t start = image.find_first_not_of('\0');
  // All padding: the kernel unpacks nothing, which is not an error there.
  if (start == std::string_view::npos) return absl::OkStatus();
  const std::string_view rest = image.substr(start);
  for (std::string_view magic : kMagics) {
    if (rest.substr(0, magic.size()) == magic) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "is not a cpio archive or a compressed one the kernel can unpack "
      "(starts with %s at byte %d)",
      absl::BytesToHexString(
          absl::string_view(rest.data(), std::min<size_t>(rest.size(), 8))),
      start));
}

}  // namespace ktvm::guest

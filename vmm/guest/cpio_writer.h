// Writes a cpio "newc" archive (the format the Linux initramfs unpacker reads)
// into memory. Parent directories are added on demand.
#ifndef KTVM_VMM_GUEST_CPIO_WRITER_H_
#define KTVM_VMM_GUEST_CPIO_WRITER_H_

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ktvm::guest {

class CpioWriter {
 public:
  // Paths are absolute guest paths ("/bin/sh"); stored without the leading
  // slash as the kernel expects. Errors on relative paths, "..", duplicates.
  absl::Status AddDirectory(std::string_view path, uint32_t perm = 0755);
  absl::Status AddFile(std::string_view path, std::string_view contents,
                       uint32_t perm);
  absl::Status AddSymlink(std::string_view path, std::string_view target);
  absl::Status AddCharDevice(std::string_view path, uint32_t major,
                             uint32_t minor, uint32_t perm = 0600);
  bool Contains(std::string_view path) const;

  // Appends the trailer and returns the archive; the writer is then empty.
  std::string Finish();

 private:
  absl::Status AddEntry(std::string_view path, uint32_t mode,
                        std::string_view data, uint32_t rdev_major,
                        uint32_t rdev_minor);
  absl::Status EnsureParents(std::string_view path);
  void AppendRecord(std::string_view name, uint32_t mode, std::string_view data,
                    uint32_t rdev_major, uint32_t rdev_minor);

  std::string out_;
  std::set<std::string, std::less<>> paths_;
  uint32_t next_inode_ = 1;
};

// Checks a guest path: absolute, no empty/"."/".." components, no NUL.
absl::Status ValidateGuestPath(std::string_view path);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_CPIO_WRITER_H_

#include "memory/file_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

absl::StatusOr<std::shared_ptr<const FileMapping>> FileMapping::Open(
    const std::string& path, uint64_t length) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrFormat("cannot open %s: %s", path, ErrnoText()));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const std::string err = ErrnoText();
    close(fd);
    return absl::InternalError(absl::StrFormat("fstat %s: %s", path, err));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (length == 0) length = file_size;
  if (length == 0) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat("%s is empty", path));
  }
  if (file_size < length) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has 0x%x bytes, 0x%x needed", path, file_size, length));
  }
  void* data = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  const std::string err = ErrnoText();
  close(fd);  // The mapping keeps the file.
  if (data == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "mmap of 0x%x bytes of %s failed: %s", length, path, err));
  }
  return std::shared_ptr<const FileMapping>(
      new FileMapping(path, static_cast<const uint8_t*>(data), length));
}

FileMapping::~FileMapping() { munmap(const_cast<uint8_t*>(data_), size_); }

}  // namespace ktvm::memory

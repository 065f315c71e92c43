// A read-only, shared mmap of a file: a RAM backing file (QEMU keeps
// writing it while the guest runs, and the mapping shows that) or a core.
#ifndef KTVM_MEMORY_FILE_MAPPING_H_
#define KTVM_MEMORY_FILE_MAPPING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::memory {

class FileMapping {
 public:
  // Maps the first `length` bytes (0 = the whole file); a file shorter than
  // `length` is an error, so no read can fault with SIGBUS later.
  static absl::StatusOr<std::shared_ptr<const FileMapping>> Open(
      const std::string& path, uint64_t length = 0);
  ~FileMapping();
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;

  absl::Span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  FileMapping(std::string path, const uint8_t* data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_FILE_MAPPING_H_

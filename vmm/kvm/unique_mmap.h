// An owned mmap'd range, unmapped exactly once.
#ifndef KTVM_VMM_KVM_UNIQUE_MMAP_H_
#define KTVM_VMM_KVM_UNIQUE_MMAP_H_

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace ktvm::vmm {

class UniqueMmap {
 public:
  UniqueMmap() = default;
  UniqueMmap(void* addr, size_t size) : addr_(addr), size_(size) {}
  UniqueMmap(UniqueMmap&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  UniqueMmap& operator=(UniqueMmap&& other) noexcept {
    if (this != &other) {
      Reset();
      addr_ = std::exchange(other.addr_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  UniqueMmap(const UniqueMmap&) = delete;
  UniqueMmap& operator=(const UniqueMmap&) = delete;
  ~UniqueMmap() { Reset(); }

  void* get() const { return addr_; }
  size_t size() const { return size_; }
  void Reset() {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_UNIQUE_MMAP_H_

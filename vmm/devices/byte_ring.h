// The last N bytes of a stream (the console tail kept for the report).
#ifndef KTVM_VMM_DEVICES_BYTE_RING_H_
#define KTVM_VMM_DEVICES_BYTE_RING_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace ktvm::vmm {

class ByteRing {
 public:
  explicit ByteRing(size_t capacity) : capacity_(capacity) {}

  void Append(std::string_view bytes) {
    total_ += bytes.size();
    if (bytes.size() >= capacity_) {
      data_.assign(bytes.substr(bytes.size() - capacity_));
      return;
    }
    data_.append(bytes);
    // Trim in batches so appends stay amortised O(1).
    if (data_.size() > 2 * capacity_) data_.erase(0, data_.size() - capacity_);
  }
  // At most `max_bytes` (and at most the capacity) of the newest bytes.
  std::string Tail(size_t max_bytes) const {
    const size_t keep = std::min({max_bytes, capacity_, data_.size()});
    return data_.substr(data_.size() - keep);
  }
  size_t total_bytes() const { return total_; }

 private:
  size_t capacity_;
  size_t total_ = 0;
  std::string data_;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_BYTE_RING_H_

// Little-endian byte appender shared by the firmware-table builders (MP
// table, ACPI), plus the one-byte checksum both formats use.
#ifndef KTVM_VMM_X86_64_TABLE_WRITER_H_
#define KTVM_VMM_X86_64_TABLE_WRITER_H_

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace ktvm::vmm::x86_64 {

class TableWriter {
 public:
  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }

  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Raw(&v, 2); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  // Exactly `width` bytes: `s` truncated or padded with `pad`.
  void Text(std::string_view s, size_t width, char pad = ' ') {
    for (size_t i = 0; i < width; ++i) {
      bytes_.push_back(static_cast<uint8_t>(i < s.size() ? s[i] : pad));
    }
  }
  void Zeros(size_t n) { bytes_.insert(bytes_.end(), n, 0); }
  void AlignTo(size_t a) {
    while (bytes_.size() % a) bytes_.push_back(0);
  }
  void PutU16At(size_t off, uint16_t v) { std::memcpy(&bytes_[off], &v, 2); }
  void PutU32At(size_t off, uint32_t v) { std::memcpy(&bytes_[off], &v, 4); }
  void PutU64At(size_t off, uint64_t v) { std::memcpy(&bytes_[off], &v, 8); }
  // Sets bytes_[checksum_off] so that [start, start+len) sums to 0 mod 256.
  void FixChecksum(size_t start, size_t len, size_t checksum_off) {
    bytes_[checksum_off] = 0;
    uint8_t sum = 0;
    for (size_t i = start; i < start + len; ++i) sum += bytes_[i];
    bytes_[checksum_off] = static_cast<uint8_t>(-sum);
  }

 private:
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<uint8_t> bytes_;
};

inline uint8_t ByteSum(absl::Span<const uint8_t> bytes) {
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum += b;
  return sum;
}

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_TABLE_WRITER_H_

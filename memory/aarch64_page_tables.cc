#include "memory/aarch64_page_tables.h"

#include <cstring>

namespace ktvm::memory {
namespace {

constexpr uint64_t kValid = 1, kTableOrPage = 2, kAccessFlag = 1 << 10;

}  // namespace

Aarch64PageTables::Aarch64PageTables(TestRam& ram, int granule_shift,
                                     int va_bits, uint64_t pool)
    : ram_(ram), shift_(granule_shift), va_bits_(va_bits), next_(pool) {
  const int stride = shift_ - 3;
  start_level_ = 4 - (va_bits_ - shift_ + stride - 1) / stride;
  root_ = Allocate();
}

uint64_t Aarch64PageTables::LevelSize(int level) const {
  return 1ULL << (shift_ + (shift_ - 3) * (3 - level));
}

uint64_t Aarch64PageTables::Allocate() {
  const uint64_t t = next_;
  next_ += granule();
  std::memset(ram_.Host(t, granule()), 0, granule());
  return t;
}

uint64_t Aarch64PageTables::EntryAddress(uint64_t va, int level) {
  uint64_t table = root_;
  for (int l = start_level_;; ++l) {
    const int s = shift_ + (shift_ - 3) * (3 - l);
    const uint64_t index = (va >> s) & ((1ULL << (shift_ - 3)) - 1) &
                           ((1ULL << (va_bits_ - s)) - 1);
    const uint64_t entry = table + index * 8;
    if (l == level) return entry;
    uint64_t desc;
    std::memcpy(&desc, ram_.Host(entry, 8), 8);
    if (!(desc & kValid)) {
      desc = Allocate() | kValid | kTableOrPage;
      ram_.WriteU64(entry, desc);
    }
    table = desc & 0x0000fffffffff000ULL & ~(granule() - 1);
  }
}

void Aarch64PageTables::Map(uint64_t va, uint64_t pa, int level) {
  const uint64_t desc =
      pa | kValid | kAccessFlag | (level == 3 ? kTableOrPage : 0);
  ram_.WriteU64(EntryAddress(va, level), desc);
}

uint64_t Aarch64PageTables::Tcr(int granule_shift, int va_bits) {
  const uint64_t tsz = 64 - va_bits;
  const uint64_t tg0 = granule_shift == 12 ? 0 : granule_shift == 16 ? 1 : 2;
  const uint64_t tg1 = granule_shift == 12 ? 2 : granule_shift == 16 ? 3 : 1;
  const uint64_t ips = granule_shift == 16 ? 0b110 : 0b101;
  return tsz | (tg0 << 14) | (tsz << 16) | (tg1 << 30) | (ips << 32);
}

}  // namespace ktvm::memory

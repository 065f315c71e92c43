#include "vmm/x86_64/page_tables.h"

#include <cstring>

#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint64_t kPresent = 1ULL << 0;
constexpr uint64_t kWritable = 1ULL << 1;
constexpr uint64_t kPageSize2M = 1ULL << 7;
constexpr uint64_t k2MiB = 2ULL << 20;
constexpr uint64_t kEntriesPerTable = 512;
constexpr uint64_t kPageDirectories = kIdentityMappedBytes >> 30;

static_assert(kPdptAddr == kPml4Addr + kPageSize);
static_assert(kPdAddr == kPdptAddr + kPageSize);

void Put(std::vector<uint8_t>& bytes, uint64_t offset, uint64_t value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(value));
}

}  // namespace

std::vector<uint8_t> BuildIdentityPageTables() {
  std::vector<uint8_t> bytes((2 + kPageDirectories) * kPageSize, 0);
  Put(bytes, 0, kPdptAddr | kPresent | kWritable);
  for (uint64_t gib = 0; gib < kPageDirectories; ++gib) {
    const uint64_t pd_addr = kPdAddr + gib * kPageSize;
    Put(bytes, kPageSize + gib * 8, pd_addr | kPresent | kWritable);
    for (uint64_t i = 0; i < kEntriesPerTable; ++i) {
      const uint64_t phys = (gib << 30) + i * k2MiB;
      Put(bytes, pd_addr - kPml4Addr + i * 8,
          phys | kPresent | kWritable | kPageSize2M);
    }
  }
  return bytes;
}

}  // namespace ktvm::vmm::x86_64

#include "memory/x86_64_page_tables.h"

#include <cstdlib>
#include <cstring>

namespace ktvm::memory {
namespace {

constexpr uint64_t kPresentWritable = 0x3;
constexpr uint64_t kPageSizeBit = 1ULL << 7;
constexpr uint64_t kAddressMask = 0x000ffffffffff000ULL;

uint64_t ReadEntry(TestRam& ram, uint64_t pa) {
  uint64_t v;
  std::memcpy(&v, ram.Host(pa, 8), 8);
  return v;
}

}  // namespace

X86_64PageTables::X86_64PageTables(TestRam& ram, X86PagingMode mode,
                                   uint64_t table_pool, uint64_t pool_size)
    : ram_(ram),
      mode_(mode),
      next_table_(table_pool),
      pool_end_(table_pool + pool_size) {
  root_ = AllocateTable();
}

uint64_t X86_64PageTables::AllocateTable() {
  if (next_table_ + k4K > pool_end_) std::abort();  // Pool too small.
  const uint64_t table = next_table_;
  next_table_ += k4K;
  std::memset(ram_.Host(table, k4K), 0, k4K);
  return table;
}

uint64_t X86_64PageTables::EntryAddress(uint64_t va, int depth) {
  uint64_t table = root_;
  for (int d = 0;; ++d) {
    const int shift = 12 + 9 * (levels() - 1 - d);
    const uint64_t entry_pa = table + ((va >> shift) & 0x1ff) * 8;
    if (d == depth) return entry_pa;
    uint64_t entry = ReadEntry(ram_, entry_pa);
    if (!(entry & 1)) {
      entry = AllocateTable() | kPresentWritable;
      ram_.WriteU64(entry_pa, entry);
    } else if (entry & kPageSizeBit) {
      std::abort();  // A large page already covers va.
    }
    table = entry & kAddressMask;
  }
}

void X86_64PageTables::Map(uint64_t va, uint64_t pa, uint64_t page_size) {
  int depth;
  uint64_t flags = kPresentWritable;
  switch (page_size) {
    case k4K:
      depth = levels() - 1;
      break;
    case k2M:
      depth = levels() - 2;
      flags |= kPageSizeBit;
      break;
    case k1G:
      depth = levels() - 3;
      flags |= kPageSizeBit;
      break;
    default:
      std::abort();
  }
  if ((va | pa) & (page_size - 1)) std::abort();
  const uint64_t entry_pa = EntryAddress(va, depth);
  if (ReadEntry(ram_, entry_pa) & 1) std::abort();  // Already mapped.
  ram_.WriteU64(entry_pa, pa | flags);
}

void X86_64PageTables::MapRange(uint64_t va, uint64_t pa, uint64_t len,
                                uint64_t page_size) {
  for (uint64_t off = 0; off < len; off += page_size) {
    Map(va + off, pa + off, page_size);
  }
}

}  // namespace ktvm::memory

// Builds x86_64 page tables inside TestRam, so tests (here and in sdt/,
// dump code) translate through tables in guest memory exactly as a real
// guest's would be walked.
#ifndef KTVM_MEMORY_X86_64_PAGE_TABLES_H_
#define KTVM_MEMORY_X86_64_PAGE_TABLES_H_

#include <cstdint>

#include "memory/test_ram.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {

class X86_64PageTables {
 public:
  static constexpr uint64_t k4K = 1ULL << 12;
  static constexpr uint64_t k2M = 1ULL << 21;
  static constexpr uint64_t k1G = 1ULL << 30;

  // Table frames come from [table_pool, table_pool + pool_size), which must
  // lie inside `ram`; the root table is the first of them.
  X86_64PageTables(TestRam& ram, X86PagingMode mode, uint64_t table_pool,
                   uint64_t pool_size);

  // Maps [va, va + page_size) to [pa, ...); page_size is k4K, k2M or k1G
  // and both addresses are aligned to it. Aborts on a conflicting mapping
  // (a test bug).
  void Map(uint64_t va, uint64_t pa, uint64_t page_size);
  // Maps `len` bytes (multiple of page_size) contiguously.
  void MapRange(uint64_t va, uint64_t pa, uint64_t len, uint64_t page_size);

  // Guest-physical address of the entry that translates `va` at `depth`
  // (0 = root table); creates the tables above it. For tests that corrupt
  // one entry.
  uint64_t EntryAddress(uint64_t va, int depth);

  uint64_t root() const { return root_; }
  X86PagingMode mode() const { return mode_; }
  int levels() const { return mode_ == X86PagingMode::kFiveLevel ? 5 : 4; }

 private:
  uint64_t AllocateTable();

  TestRam& ram_;
  X86PagingMode mode_;
  uint64_t next_table_;
  uint64_t pool_end_;
  uint64_t root_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_X86_64_PAGE_TABLES_H_

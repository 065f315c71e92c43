// Builds AArch64 stage-1 tables for one TTBR inside TestRam, indexing them
// by the architectural formula, for translator tests and benchmarks.
#ifndef KTVM_MEMORY_AARCH64_PAGE_TABLES_H_
#define KTVM_MEMORY_AARCH64_PAGE_TABLES_H_

#include <cstdint>

#include "memory/test_ram.h"

namespace ktvm::memory {

class Aarch64PageTables {
 public:
  // Tables are allocated one granule each from `pool` upwards (inside
  // `ram`); the start-level table is the first.
  Aarch64PageTables(TestRam& ram, int granule_shift, int va_bits,
                    uint64_t pool);

  uint64_t root() const { return root_; }
  int start_level() const { return start_level_; }
  uint64_t granule() const { return 1ULL << shift_; }
  // Bytes one descriptor at `level` maps.
  uint64_t LevelSize(int level) const;

  // Address of the descriptor for `va` at `level`, creating the tables
  // above it.
  uint64_t EntryAddress(uint64_t va, int level);
  // A page descriptor at level 3, a block descriptor above it.
  void Map(uint64_t va, uint64_t pa, int level);

  // TCR_EL1 for this granule and VA width in both halves (IPS 52-bit with
  // the 64 KiB granule, else 48-bit).
  static uint64_t Tcr(int granule_shift, int va_bits);

 private:
  uint64_t Allocate();

  TestRam& ram_;
  int shift_;
  int va_bits_;
  int start_level_;
  uint64_t next_;
  uint64_t root_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_AARCH64_PAGE_TABLES_H_

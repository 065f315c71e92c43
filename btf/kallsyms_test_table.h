// Test/benchmark helper: builds kallsyms tables the way scripts/kallsyms.c
// lays them out (PC-relative offsets), in a flat buffer standing for the
// kernel image, plus a reader over it.
#ifndef KTVM_BTF_KALLSYMS_TEST_TABLE_H_
#define KTVM_BTF_KALLSYMS_TEST_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "btf/kallsyms.h"

namespace ktvm::btf::testing {

struct BuiltKallsyms {
  uint64_t base_va = 0;
  std::vector<uint8_t> image;  // mapped at base_va
  KallsymsTables tables;
  std::vector<KernelSymbol> symbols;  // what was encoded, in table order
  ReadVirtualFn reader() const;
};

// `count` synthetic symbols with kernel-like names at increasing addresses
// in [text_va, text_va + 64 MiB).
BuiltKallsyms BuildKallsyms(uint32_t count, uint64_t text_va);

// Encodes the given symbols (sorted by address by the caller).
BuiltKallsyms EncodeKallsyms(const std::vector<KernelSymbol>& symbols,
                             uint64_t base_va);

}  // namespace ktvm::btf::testing

#endif  // KTVM_BTF_KALLSYMS_TEST_TABLE_H_

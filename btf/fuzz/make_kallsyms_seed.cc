// Writes a kallsyms fuzz seed in kallsyms_fuzzer's input layout: six table
// offsets, then a real-format table image (scripts/kallsyms.c encoding,
// from kallsyms_test_table) so mutations start from valid tables.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "btf/kallsyms_test_table.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  // Offsets are written relative to the image start; the fuzzer maps the
  // image at its own base, which PC-relative tables do not care about.
  const ktvm::btf::testing::BuiltKallsyms built =
      ktvm::btf::testing::BuildKallsyms(64, 0xffffffff81000000ULL);
  const ktvm::btf::KallsymsTables& t = built.tables;
  const uint64_t fields[6] = {t.num_syms - built.base_va,
                              t.names - built.base_va,
                              t.token_table - built.base_va,
                              t.token_index - built.base_va,
                              t.offsets - built.base_va,
                              t.relative_base ? ((*t.relative_base -
                                                  built.base_va) << 1) | 1
                                              : 0};
  FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr) return 1;
  std::fwrite(fields, sizeof(fields), 1, f);
  std::fwrite(built.image.data(), 1, built.image.size(), f);
  return std::fclose(f) == 0 ? 0 : 1;
}

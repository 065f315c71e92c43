// Writes translator_fuzzer seeds: real page tables (x86_64 4- and 5-level
// with 4K/2M pages, aarch64 4K and 64K granules) built with the test
// builders, in the fuzzer's input layout, so mutations start from walks
// that reach the last level.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "memory/aarch64_page_tables.h"
#include "memory/aarch64_translator.h"
#include "memory/test_ram.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {
namespace {

void Put(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bool Write(const std::string& path, uint8_t mode, uint64_t root, uint64_t va,
           uint64_t tcr, uint64_t ttbr1, TestRam& ram, uint64_t ram_size) {
  std::vector<uint8_t> out;
  out.push_back(mode);
  out.push_back(0);  // flags: one region at 0, root as given.
  Put(out, root, 8);
  Put(out, va, 8);
  Put(out, tcr, 8);
  Put(out, ttbr1, 8);
  Put(out, 0, 2);
  const uint8_t* bytes = ram.Host(0, ram_size);
  out.insert(out.end(), bytes, bytes + ram_size);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  return std::fclose(f) == 0 && ok;
}

int Main(const std::string& dir) {
  bool ok = true;
  for (int five = 0; five < 2; ++five) {
    const uint64_t size = 0x10000;
    TestRam ram;
    ram.AddRegion(0, size);
    const X86PagingMode mode =
        five ? X86PagingMode::kFiveLevel : X86PagingMode::kFourLevel;
    X86_64PageTables tables(ram, mode, 0x1000, 0x8000);
    const uint64_t va = 0xffff888000001000;
    tables.Map(va, 0xa000, X86_64PageTables::k4K);
    tables.Map(va + 0x1000, 0xc000, X86_64PageTables::k4K);
    tables.Map(0xffffffff80200000, 0x200000, X86_64PageTables::k2M);
    // A seed whose walk fails would start the fuzzer shallow.
    ok &= X86_64Translator(tables.root(), mode)
              .Translate(*ram.View(), va + 0xff0)
              .ok();
    ok &= Write(dir + (five ? "/x86_5level.bin" : "/x86_4level.bin"), five,
                tables.root(), va + 0xff0, 0, 0, ram, size);
  }
  struct A64 {
    int shift;
    int va_bits;
    uint64_t size;
    const char* name;
  };
  for (const A64& c : {A64{12, 48, 0x10000, "/a64_4k_48.bin"},
                       A64{16, 42, 0x40000, "/a64_64k_42.bin"}}) {
    TestRam ram;
    ram.AddRegion(0, c.size);
    Aarch64PageTables tables(ram, c.shift, c.va_bits, 1ULL << c.shift);
    const uint64_t page = 1ULL << c.shift;
    const uint64_t va = (~0ULL << c.va_bits) | (5 * page);
    tables.Map(va, c.size - page, 3);
    auto a64 =
        Aarch64Translator::Create(Aarch64PageTables::Tcr(c.shift, c.va_bits),
                                  tables.root(), tables.root());
    ok &= a64.ok() && a64->Translate(*ram.View(), va + 0x10).ok();
    ok &= Write(dir + c.name, 2, tables.root(), va + 0x10,
                Aarch64PageTables::Tcr(c.shift, c.va_bits), tables.root(), ram,
                c.size);
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ktvm::memory

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  return ktvm::memory::Main(argv[1]);
}

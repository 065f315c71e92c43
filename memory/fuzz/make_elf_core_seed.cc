// Writes an elf_core_fuzzer seed: a QEMU-shaped core (two PT_LOADs, a
// duplicate kdump-style segment, NT_PRSTATUS and QEMU notes for two CPUs,
// VMCOREINFO) whose CPU 0 CR3 points at real 4-level tables.
#include <elf.h>

#include <cstdio>
#include <vector>

#include "memory/elf_core_writer.h"
#include "memory/test_ram.h"
#include "memory/x86_64_page_tables.h"

int main(int argc, char** argv) {
  using namespace ktvm::memory;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  TestRam ram;
  ram.AddRegion(0, 0x8000);
  ram.AddRegion(0x100000, 0x2000);
  X86_64PageTables tables(ram, X86PagingMode::kFourLevel, 0x1000, 0x5000);
  const uint64_t va = 0xffffffff81234000;
  tables.Map(va, 0x101000, X86_64PageTables::k4K);
  const char info[] = "OSRELEASE=7.3.4\nPAGESIZE=4096\n";
  const std::vector<uint8_t> notes = EncodeNotes({
      {"CORE", NT_PRSTATUS, X86PrStatus(1, va + 0x10, 0)},
      {"CORE", NT_PRSTATUS, X86PrStatus(2, va + 0x20, 0)},
      {"QEMU", 0, QemuCpuStateNote(va + 0x10, tables.root(), 0)},
      {"QEMU", 0, QemuCpuStateNote(va + 0x20, tables.root(), 1 << 12)},
      {"VMCOREINFO", 0, std::vector<uint8_t>(info, info + sizeof(info))},
  });
  const uint8_t* low = ram.Host(0, 0x8000);
  const uint8_t* high = ram.Host(0x100000, 0x2000);
  const std::vector<uint8_t> core = WriteElfCore(
      notes, {{0, std::vector<uint8_t>(low, low + 0x8000)},
              {0x100000, std::vector<uint8_t>(high, high + 0x2000)},
              {0x2000, std::vector<uint8_t>(low + 0x2000, low + 0x3000)}});
  FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr) return 1;
  const bool ok = std::fwrite(core.data(), 1, core.size(), f) == core.size();
  return std::fclose(f) == 0 && ok ? 0 : 1;
}

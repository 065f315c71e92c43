// Random guest memory, page-table root, registers and address through the
// x86_64 (4- and 5-level) and aarch64 translators and the virtual readers:
// no crash, no hang, no read outside the regions (each region is its own
// exact-size heap buffer, so ASan flags any overrun), and every successful
// translation is self-consistent.
//
// Input: [mode u8][flags u8][root u64][va u64][tcr u64][ttbr1 u64]
//        [hole_pages u16][memory bytes...]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "memory/aarch64_translator.h"
#include "memory/guest_memory.h"
#include "memory/kernel_memory.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_translator.h"

namespace {

using ktvm::memory::AddressTranslator;
using ktvm::memory::GuestMemory;
using ktvm::memory::Translation;

constexpr size_t kHeader = 1 + 1 + 8 * 4 + 2;

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void Exercise(const GuestMemory& memory, const AddressTranslator& translator,
              uint64_t va) {
  absl::StatusOr<Translation> t = translator.Translate(memory, va);
  if (t.ok()) {
    // A power-of-two page of at least 4 KiB, and the offset survives.
    Check(t->page_size >= 4096 && (t->page_size & (t->page_size - 1)) == 0);
    Check((t->phys_addr & (t->page_size - 1)) == (va & (t->page_size - 1)));
  }
  ktvm::memory::TranslatedMemory vm(memory, translator);
  uint8_t out[96];
  // Straddles a page boundary so two walks (and the cache) are exercised.
  const uint64_t start = (va | 0xfff) - 40;
  (void)vm.ReadVirtual(start, absl::MakeSpan(out));
  const auto failures = vm.ReadVirtualBestEffort(start, absl::MakeSpan(out));
  Check(failures.size() <= 2);
  // Cached and uncached translations agree.
  absl::StatusOr<Translation> cached = vm.Translate(va);
  absl::StatusOr<Translation> again = vm.Translate(va);
  Check(cached.ok() == again.ok());
  if (cached.ok()) Check(cached->phys_addr == again->phys_addr);
  if (t.ok()) Check(cached.ok() && cached->phys_addr == t->phys_addr);
  ktvm::memory::KernelMemory kernel(
      memory, translator,
      {.page_offset_base = va & ~0xfffffULL, .phys_base = va});
  (void)kernel.ReadVirtualBestEffort(start, absl::MakeSpan(out));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader) return 0;
  const uint8_t mode = data[0];
  const uint8_t flags = data[1];
  uint64_t root = Load64(data + 2);
  const uint64_t va = Load64(data + 10);
  const uint64_t tcr = Load64(data + 18);
  const uint64_t ttbr1 = Load64(data + 26);
  uint16_t hole_pages;
  std::memcpy(&hole_pages, data + 34, 2);
  const uint8_t* bytes = data + kHeader;
  const size_t n = size - kHeader;
  if (n == 0) return 0;

  // Up to two regions with a hole between them, each an exact-size heap
  // buffer. The base comes from the input so tables can sit anywhere.
  const uint64_t base = (flags & 0x80) ? (root & 0x000ffffffffff000ULL) : 0;
  const size_t first = (flags & 0x40) ? n / 2 : n;
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  std::vector<ktvm::memory::MemoryRegion> regions;
  auto add = [&](uint64_t gpa, const uint8_t* src, size_t len) {
    if (len == 0) return;
    buffers.emplace_back(new uint8_t[len]);
    std::memcpy(buffers.back().get(), src, len);
    regions.push_back({gpa, len, buffers.back().get()});
  };
  add(base, bytes, first);
  add(base + first + uint64_t{hole_pages} * 4096, bytes + first, n - first);
  absl::StatusOr<GuestMemory> memory = GuestMemory::FromRegions(regions);
  if (!memory.ok()) return 0;
  // Usually point the root into the memory so walks go deep.
  if (flags & 0x20) root = base + (root % n);

  switch (mode % 3) {
    case 0:
    case 1: {
      const ktvm::memory::X86_64Translator x86(
          root, mode % 3 ? ktvm::memory::X86PagingMode::kFiveLevel
                         : ktvm::memory::X86PagingMode::kFourLevel);
      Exercise(*memory, x86, va);
      break;
    }
    case 2: {
      absl::StatusOr<ktvm::memory::Aarch64Translator> a64 =
          ktvm::memory::Aarch64Translator::Create(tcr, root, ttbr1);
      if (a64.ok()) Exercise(*memory, *a64, va);
      break;
    }
  }
  // Raw physical reads at input-chosen addresses.
  uint8_t small[24];
  (void)memory->Read(va, absl::MakeSpan(small));
  (void)memory->ReadZeroFill(root, absl::MakeSpan(small));
  (void)memory->ReadCString(va, 64);
  return 0;
}

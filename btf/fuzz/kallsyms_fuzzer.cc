// kallsyms tables are read from guest memory whose counts and offsets a
// broken kernel can corrupt; System.map and ELF .symtab come from files.
// Input layout for the memory decoder: 6 little-endian u64 table offsets
// (relative to a fake kernel base), then the memory image at that base.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/types/span.h"
#include "btf/kallsyms.h"

namespace {
constexpr uint64_t kBase = 0xffffffff81000000ULL;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> input(data, size);
  (void)ktvm::btf::ParseSystemMap(
      std::string_view(reinterpret_cast<const char*>(data), size));
  (void)ktvm::btf::SymbolsFromElfSymtab(input);

  if (size < 48) return 0;
  uint64_t field[6];
  std::memcpy(field, data, sizeof(field));
  const absl::Span<const uint8_t> image = input.subspan(48);
  ktvm::btf::KallsymsTables tables;
  // Keep the addresses near the image (mod its size + slack) so decoding
  // gets past the first read most of the time.
  const uint64_t span = image.size() + 64;
  tables.num_syms = kBase + field[0] % span;
  tables.names = kBase + field[1] % span;
  tables.token_table = kBase + field[2] % span;
  tables.token_index = kBase + field[3] % span;
  tables.offsets = kBase + field[4] % span;
  if (field[5] & 1) tables.relative_base = kBase + (field[5] >> 1) % span;
  auto read = [image](uint64_t va, absl::Span<uint8_t> out) {
    if (va < kBase || va - kBase > image.size() ||
        out.size() > image.size() - (va - kBase)) {
      return absl::OutOfRangeError("outside the fuzz image");
    }
    std::memcpy(out.data(), image.data() + (va - kBase), out.size());
    return absl::OkStatus();
  };
  if (auto symbols = ktvm::btf::DecodeKallsyms(read, tables); symbols.ok()) {
    (void)symbols->Format(kBase + 0x100);
  }
  return 0;
}

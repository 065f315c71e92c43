#include "sdt/fuzz/arena_fuzz_input.h"

#include <cstring>
#include <memory>
#include <vector>

#include "memory/guest_memory.h"
#include "memory/x86_64_translator.h"

namespace ktvm::sdt::fuzz {

std::optional<ArenaFuzzRun> RunArenaFuzzInput(absl::Span<const uint8_t> input) {
  constexpr uint64_t kPage = 4096;
  constexpr uint64_t kMaxWindowPages = 0x3ff;
  if (input.size() <= sizeof(ArenaFuzzHeader)) return std::nullopt;
  ArenaFuzzHeader h;
  std::memcpy(&h, input.data(), sizeof(h));
  // RAM is its own exact-size heap buffer, so ASan sees any overrun.
  const size_t ram_size = input.size() - sizeof(h);
  auto ram = std::make_unique<uint8_t[]>(ram_size);
  std::memcpy(ram.get(), input.data() + sizeof(h), ram_size);
  const std::vector<memory::MemoryRegion> regions = {{0, ram_size, ram.get()}};
  absl::StatusOr<memory::GuestMemory> memory =
      memory::GuestMemory::FromRegions(regions);
  if (!memory.ok()) return std::nullopt;
  const memory::X86_64Translator translator(
      uint64_t{h.root_page} * kPage, (h.flags & kArenaFuzzFiveLevel)
                                         ? memory::X86PagingMode::kFiveLevel
                                         : memory::X86PagingMode::kFourLevel);
  ArenaFuzzRun run;
  run.window.user_vm_start = h.user_vm_start;
  // Up to 1023 pages: a bigger window only repeats the same per-page walk,
  // and keeping each input cheap buys the fuzzer more inputs per second.
  run.window.user_vm_end =
      h.user_vm_start + (uint64_t{h.window_pages} & kMaxWindowPages) * kPage;
  run.window.kern_vm_start = h.kern_vm_start;
  run.window.page_size = kPage;
  run.options.max_captured_bytes = uint64_t{h.capture_cap_pages} * kPage;
  run.options.max_scanned_pages = h.scan_cap_pages;
  run.window_valid = ValidateArenaWindow(run.window).ok();
  run.snapshot = SnapshotArena(*memory, translator, run.window, run.options);
  return run;
}

}  // namespace ktvm::sdt::fuzz

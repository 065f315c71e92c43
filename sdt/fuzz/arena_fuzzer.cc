// Fuzzes the arena snapshot (SnapshotArena) over arbitrary page tables and
// frames: a corrupt guest can point arena PTEs anywhere, alias frames, or
// describe a window no kernel would (see arena_fuzz_input.h for the
// encoding). Invariants: no crash or out-of-bounds read; an invalid window
// is an error; a snapshot stays inside its window and caps, with
// page-aligned, increasing addresses and whole pages or none.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "sdt/fuzz/arena_fuzz_input.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::optional<ktvm::sdt::fuzz::ArenaFuzzRun> run =
      ktvm::sdt::fuzz::RunArenaFuzzInput(absl::MakeConstSpan(data, size));
  if (!run.has_value()) return 0;
  if (!run->window_valid) {
    Check(!run->snapshot.ok());
    return 0;
  }
  if (!run->snapshot.ok()) return 0;
  const ktvm::report::ArenaSnapshot& snap = *run->snapshot;
  const uint64_t page = run->window.page_size;
  const uint64_t scanned =
      std::min(run->window.declared_pages(), run->options.max_scanned_pages);
  Check(snap.pages_size() + snap.unmapped_pages() <= scanned);
  uint64_t captured = 0;
  std::optional<uint64_t> previous;
  for (const ktvm::report::ArenaPage& p : snap.pages()) {
    Check(run->window.ContainsUserAddress(p.user_addr()));
    Check(p.user_addr() % page == 0);
    Check(!previous.has_value() || p.user_addr() > *previous);
    previous = p.user_addr();
    Check(p.data().empty() || p.data().size() == page);
    captured += p.data().size();
  }
  Check(captured <= run->options.max_captured_bytes);
  return 0;
}

// The arena fuzzer's input encoding, shared by the fuzzer and its seed
// generator: a fixed header describing the window and the caps, then the
// bytes of guest RAM at physical address 0 (page tables and frames).
//
//   u64 user_vm_start   u64 kern_vm_start
//   u16 window_pages (low 10 bits)  u16 scan_cap_pages  u16 capture_cap_pages
//   u8  flags (bit 0: 5-level paging)        u8  root_page (CR3 = page*4K)
#ifndef KTVM_SDT_FUZZ_ARENA_FUZZ_INPUT_H_
#define KTVM_SDT_FUZZ_ARENA_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/failure_dump.pb.h"
#include "sdt/arena.h"

namespace ktvm::sdt::fuzz {

struct ArenaFuzzHeader {
  uint64_t user_vm_start;
  uint64_t kern_vm_start;
  uint16_t window_pages;
  uint16_t scan_cap_pages;
  uint16_t capture_cap_pages;
  uint8_t flags;
  uint8_t root_page;
};
static_assert(sizeof(ArenaFuzzHeader) == 24, "the encoding has no padding");

inline constexpr uint8_t kArenaFuzzFiveLevel = 1;

struct ArenaFuzzRun {
  ArenaWindow window;
  ArenaSnapshotOptions options;
  bool window_valid = false;
  absl::StatusOr<ktvm::report::ArenaSnapshot> snapshot =
      absl::UnknownError("not run");
};

// Decodes `input` and snapshots the arena it describes; nullopt when the
// input is too short to hold a header and any RAM.
std::optional<ArenaFuzzRun> RunArenaFuzzInput(absl::Span<const uint8_t> input);

}  // namespace ktvm::sdt::fuzz

#endif  // KTVM_SDT_FUZZ_ARENA_FUZZ_INPUT_H_

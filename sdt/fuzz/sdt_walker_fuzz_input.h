// Input encoding of sdt_walker_fuzzer, shared with its seed writer.
//
// bytes [0, 40): struct scx_allocator (upstream layout); then the contents
// of the mapped arena pages, 8-byte words. A word whose top byte is 0xaa is
// an arena pointer: the window start plus its low 32 bits modulo the window
// size. Byte 0 bit 0 forces a plausible elem_size; byte 1 bit 0 renders
// payloads as struct ktvm_task_ctx instead of hex.
#ifndef KTVM_SDT_FUZZ_SDT_WALKER_FUZZ_INPUT_H_
#define KTVM_SDT_FUZZ_SDT_WALKER_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "proto/failure_dump.pb.h"
#include "sdt/sdt_walker.h"
#include "sdt/testing/arena_builder.h"

namespace ktvm::sdt::fuzz {

inline constexpr uint64_t kWindowBytes = 16 * testing::TestArena::kPageSize;
// Three quarters of the window is mapped; pointers into the rest fail.
inline constexpr uint64_t kMappedBytes = 12 * testing::TestArena::kPageSize;
inline constexpr size_t kAllocatorBytes = 40;
inline constexpr uint64_t kPointerTag = 0xaaULL << 56;

inline uint64_t DecodeWord(uint64_t w) {
  if ((w & (0xffULL << 56)) != kPointerTag) return w;
  return testing::TestArena::kUserVmStart + (w & 0xffffffffULL) % kWindowBytes;
}

inline uint64_t EncodeWord(uint64_t w) {
  const uint64_t start = testing::TestArena::kUserVmStart;
  if (w >= start && w < start + kWindowBytes) return kPointerTag | (w - start);
  return w;
}

// Writes the input into the fuzzer's arena (12 mapped pages of a 16-page
// window behind real page tables) and walks it.
report::SdtAllocatorSnapshot WalkFuzzInput(absl::Span<const uint8_t> input);

}  // namespace ktvm::sdt::fuzz

#endif  // KTVM_SDT_FUZZ_SDT_WALKER_FUZZ_INPUT_H_

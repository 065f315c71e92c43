// Walks an scx sdt_alloc allocator tree in frozen guest memory and reports
// every live allocation with its payload rendered through BTF.
//
// Liveness: the allocator sets a leaf bit when it hands out a slot, but an
// interior bit (levels 0 and 1) only when the whole child subtree is full.
// So the walk descends into every non-NULL child at interior levels and
// trusts the bitmap only at the leaf, where a set bit with a non-NULL data
// pointer is a live slot. A freed slot keeps its data pointer (for reuse)
// but has its bit cleared.
#ifndef KTVM_SDT_SDT_WALKER_H_
#define KTVM_SDT_SDT_WALKER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "btf/value_renderer.h"
#include "proto/failure_dump.pb.h"
#include "sdt/arena.h"
#include "sdt/payload_type.h"
#include "sdt/sdt_layout.h"

struct btf;

namespace ktvm::memory {
class VirtualMemoryReader;
}  // namespace ktvm::memory

namespace ktvm::sdt {

// Live entries reported per allocator at most; the rest set `truncated`.
inline constexpr size_t kMaxSdtAllocEntries = 4096;
// Descriptors read per allocator at most. The allocator never frees a
// descriptor, so a real tree has about one per 512 slots ever used at once:
// this covers an 8 M-slot high-water mark, and keeps a walk over corrupt
// memory (random non-NULL child pointers) to a few milliseconds.
inline constexpr size_t kMaxSdtDescriptors = 16384;
// Skipped subtrees and unreadable slots after which a walk gives up (and
// says so in `error`): a real tree has a handful at most.
inline constexpr uint32_t kMaxSdtSkips = 16384;

struct SdtWalkContext {
  // Reads kernel virtual addresses (the arena's kernel-side mapping).
  const memory::VirtualMemoryReader* kernel_memory = nullptr;
  ArenaWindow arena;
  // The scheduler's program BTF (payload types live there).
  const struct ::btf* program_btf = nullptr;
  SdtAllocOffsets offsets;
  // Pointer depth, caps etc. for payload rendering. `memory` and
  // `translate_pointer` are filled in by the walker when unset, so arena
  // pointers inside payloads are followed through the arena window.
  btf::RenderOptions render;
};

// Walks the allocator whose struct scx_allocator bytes are
// `allocator_bytes` (read from the program's .bss/.data by the caller).
// Never fails: problems are reported in the snapshot (`error` when the
// allocator cannot be walked at all, `skipped_subtrees` for subtrees that
// had to be abandoned).
ktvm::report::SdtAllocatorSnapshot WalkSdtAllocator(
    const SdtWalkContext& ctx, std::string_view allocator_name,
    absl::Span<const uint8_t> allocator_bytes,
    const PayloadTypeChoice& payload);

// Same, into a caller-owned snapshot (cleared first). With `out` on a
// google::protobuf::Arena the thousands of entry and payload messages cost
// no malloc/free each; see sdt_walker_benchmark for the difference.
void WalkSdtAllocatorInto(const SdtWalkContext& ctx,
                          std::string_view allocator_name,
                          absl::Span<const uint8_t> allocator_bytes,
                          const PayloadTypeChoice& payload,
                          ktvm::report::SdtAllocatorSnapshot* out);

// pool.elem_size from allocator bytes; error when the bytes are too short.
absl::StatusOr<uint64_t> AllocatorElemSize(
    const SdtAllocOffsets& offsets, absl::Span<const uint8_t> allocator_bytes);

// A global data section of the scheduler as it sits in guest memory, named
// like its DATASEC in the program BTF (".bss", ".data").
struct SectionImage {
  std::string name;
  absl::Span<const uint8_t> bytes;
};

// Walks every variable of type struct scx_allocator in the DATASECs of
// `sections` (allocator_name = the variable's name), discovering each
// payload type from its elem_size. `ctx.offsets` is resolved here from
// `ctx.program_btf`; the error says why when that is impossible (no
// sdt_alloc in the program: NotFound; scx_allocator only forward-declared:
// FailedPrecondition).
absl::StatusOr<std::vector<ktvm::report::SdtAllocatorSnapshot>>
WalkProgramAllocators(SdtWalkContext ctx,
                      absl::Span<const SectionImage> sections);

// Same, appending to `out` (e.g. the sdt_allocators field of a report that
// lives on a google::protobuf::Arena, so the walk allocates there).
absl::Status WalkProgramAllocatorsInto(
    SdtWalkContext ctx, absl::Span<const SectionImage> sections,
    google::protobuf::RepeatedPtrField<ktvm::report::SdtAllocatorSnapshot>*
        out);

}  // namespace ktvm::sdt

#endif  // KTVM_SDT_SDT_WALKER_H_

// Test-only: a BPF arena in test guest RAM behind real x86_64 page tables,
// and an sdt_alloc tree built in it with the allocator's own bit rules.
// Tests, the benchmark and the fuzzer build their memory with these so the
// walker reads exactly what it would read from a frozen guest: arena user
// addresses turned into kernel addresses, translated page by page.
#ifndef KTVM_SDT_TESTING_ARENA_BUILDER_H_
#define KTVM_SDT_TESTING_ARENA_BUILDER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "memory/guest_memory.h"
#include "memory/test_ram.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"
#include "sdt/arena.h"

namespace ktvm::sdt::testing {

class TestArena {
 public:
  // Where real kernels put things: arena user windows start on a 4 GiB
  // boundary, kern_vm is a vmalloc area.
  static constexpr uint64_t kUserVmStart = 0x100000000ULL;
  static constexpr uint64_t kVmStructAddr = 0xffffc90000100000ULL;
  static constexpr uint64_t kPageSize = 4096;

  // `window_bytes` of arena window; `ram_bytes` of guest RAM for page
  // tables and page frames.
  explicit TestArena(uint64_t window_bytes = 16ULL << 20,
                     uint64_t ram_bytes = 32ULL << 20);
  TestArena(const TestArena&) = delete;
  TestArena& operator=(const TestArena&) = delete;

  // Bump-allocates `size` bytes (aligned to `align`) in the window and maps
  // any new page onto a fresh frame. Frames are handed out from the top of
  // RAM downwards, so neighbouring arena pages are not neighbouring frames
  // and reads that cross a page must really translate each page.
  uint64_t Allocate(uint64_t size, uint64_t align = 8);
  // Maps the window page holding `user_addr` onto the frame that already
  // backs `target_user_addr` (what the kernel's shared scratch page does).
  void AliasPage(uint64_t user_addr, uint64_t target_user_addr);
  // Maps one fresh frame at a kernel address outside the window (for
  // kernel objects such as struct bpf_arena in tests).
  void MapKernelPage(uint64_t kva);

  // Writes through the test's own mapping (aborts on an unmapped page: a
  // test bug). Addresses are arena user addresses.
  void Write(uint64_t user_addr, absl::Span<const uint8_t> bytes);
  void WriteU64(uint64_t user_addr, uint64_t value);
  uint64_t ReadU64(uint64_t user_addr) const;
  void WriteKernel(uint64_t kva, absl::Span<const uint8_t> bytes);
  void WriteKernelU64(uint64_t kva, uint64_t value);

  ArenaWindow window() const;
  const memory::GuestMemory& memory() const { return memory_; }
  const memory::X86_64Translator& translator() const { return translator_; }
  // Cache dropped on every call: tests write between walks.
  const memory::TranslatedMemory& kernel_memory() const;

  // First window address never handed out (and never mapped).
  uint64_t unmapped_user_addr() const { return next_user_; }

 private:
  uint64_t FreshFrame();
  uint8_t* HostOfKernel(uint64_t kva, uint64_t len) const;

  uint64_t window_bytes_;
  memory::TestRam ram_;
  memory::X86_64PageTables tables_;
  memory::GuestMemory memory_;
  memory::X86_64Translator translator_;
  std::unique_ptr<memory::TranslatedMemory> kernel_memory_;
  uint64_t next_user_ = kUserVmStart;
  uint64_t next_frame_;   // Next frame from the top, exclusive.
  uint64_t frame_floor_;  // Frames never go below the table pool.
  // Kernel page -> frame, for the builder's own writes.
  std::map<uint64_t, uint64_t> frames_;
};

// An scx_allocator tree in a TestArena, built with the upstream rules:
// a leaf bit means "slot live", an interior bit "child subtree full", and
// nr_free counts clear bits. Uses the upstream layout (sdt_desc 80 bytes,
// chunk union at 0, 8-byte sdt_data header).
class SdtTreeBuilder {
 public:
  static constexpr uint64_t kDescSize = 80;

  SdtTreeBuilder(TestArena& arena, uint64_t elem_size);

  // Like scx_alloc: the first free slot by the bitmaps. Returns idx.
  uint32_t Alloc(absl::Span<const uint8_t> payload);
  // The slot at `idx` (pos0 << 18 | pos1 << 9 | pos2), creating the
  // descriptors on the way. Aborts if already live.
  void AllocAt(uint32_t idx, absl::Span<const uint8_t> payload);
  // Like scx_alloc_free_idx: header genn+1 and idx 0, payload zeroed, bits
  // cleared upward while the descriptor's nr_free becomes 1. The data
  // pointer stays for reuse.
  void Free(uint32_t idx);

  // Arena address of the descriptor at `level` on the path to `idx`
  // (0 when not created).
  uint64_t DescAddr(int level, uint32_t idx) const;
  // Arena address of the chunk slot `pos` of that descriptor (where the
  // child / data pointer lives).
  uint64_t ChunkSlotAddr(int level, uint32_t idx, uint32_t pos) const;
  uint64_t DataAddr(uint32_t idx) const;
  uint64_t root() const { return root_; }
  uint64_t elem_size() const { return elem_size_; }

  // struct scx_allocator bytes: pool {slab, elem_size, max_elems, idx},
  // root.
  std::vector<uint8_t> AllocatorBytes() const;

 private:
  uint64_t NewDesc();
  void SetBit(uint64_t desc, uint32_t pos, bool value);
  bool BitSet(uint64_t desc, uint32_t pos) const;

  TestArena& arena_;
  uint64_t elem_size_;
  uint64_t root_;
  uint32_t allocated_ = 0;
};

}  // namespace ktvm::sdt::testing

#endif  // KTVM_SDT_TESTING_ARENA_BUILDER_H_

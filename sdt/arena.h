// A BPF arena as the kernel lays it out: the user-visible window
// [user_vm_start, user_vm_end) and the kernel-side vmalloc area that backs
// it. Arena pointers stored in BPF memory are user addresses; the kernel
// reaches the same byte at kern_vm_start + (pointer & 0xffffffff), which is
// what a frozen-guest reader has to translate through the page tables.
#ifndef KTVM_SDT_ARENA_H_
#define KTVM_SDT_ARENA_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"

struct btf;

namespace ktvm::memory {
class AddressTranslator;
class GuestMemory;
class VirtualMemoryReader;
}  // namespace ktvm::memory

namespace ktvm::sdt {

// The kernel reserves half a guard region below and above the 4 GiB window
// so that BPF instructions with a signed 16-bit offset never leave it:
// GUARD_SZ = round_up(1 << 16, 2 * PAGE_SIZE).
uint64_t ArenaGuardSize(uint64_t page_size);

struct ArenaWindow {
  uint64_t user_vm_start = 0;
  uint64_t user_vm_end = 0;
  // struct vm_struct::addr of arena->kern_vm plus ArenaGuardSize() / 2.
  uint64_t kern_vm_start = 0;
  uint64_t page_size = 4096;
  // arena->nr_pages when the kernel has it (pages currently populated).
  std::optional<uint64_t> nr_pages;

  // Kernel virtual address of an arena pointer. Only the low 32 bits count,
  // exactly as in the JIT-ed BPF code, so a pointer with garbage in its
  // upper half still lands inside the 4 GiB window.
  uint64_t KernelAddress(uint64_t arena_ptr) const {
    return kern_vm_start + (arena_ptr & 0xffffffffULL);
  }
  bool ContainsUserAddress(uint64_t addr) const {
    return addr >= user_vm_start && addr < user_vm_end;
  }
  uint64_t declared_pages() const {
    return page_size == 0 || user_vm_end <= user_vm_start
               ? 0
               : (user_vm_end - user_vm_start) / page_size;
  }
};

// Reads the window of the struct bpf_arena whose embedded struct bpf_map is
// at kernel address `bpf_map_kva` (what map_idr / prog->aux->arena hold),
// with member offsets from vmlinux BTF. Fails with what was missing or
// unreadable and at which address.
absl::StatusOr<ArenaWindow> ArenaWindowFromMap(
    const memory::VirtualMemoryReader& kernel_memory,
    const struct ::btf* vmlinux_btf, uint64_t bpf_map_kva,
    uint64_t page_size = 4096);

// Checks a window for values no kernel would produce (window over 4 GiB,
// crossing a 4 GiB boundary, unaligned, zero page size).
absl::Status ValidateArenaWindow(const ArenaWindow& window);

struct ArenaSnapshotOptions {
  // Bytes of page contents copied into the report at most.
  uint64_t max_captured_bytes = 64ULL << 20;
  // Pages of the window looked at, from the start; the rest are neither
  // captured nor counted as unmapped, and the snapshot is marked truncated.
  uint64_t max_scanned_pages = 1ULL << 20;
};

// Page-granular copy of every populated page of the arena. A page counts as
// populated when its kernel address translates to a frame no other arena
// page uses: every page bpf_arena_alloc_pages() hands out gets its own
// frame, so a frame mapped at several window pages (a scratch or zero page
// some kernels install for faulting accesses, or a corrupt PTE) holds no
// arena data of its own. Unreadable frames are counted as mapped but not
// copied.
absl::StatusOr<ktvm::report::ArenaSnapshot> SnapshotArena(
    const memory::GuestMemory& memory,
    const memory::AddressTranslator& translator, const ArenaWindow& window,
    const ArenaSnapshotOptions& options = {});

}  // namespace ktvm::sdt

#endif  // KTVM_SDT_ARENA_H_

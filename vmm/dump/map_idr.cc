#include "vmm/dump/map_idr.h"

#include <cstring>
#include <string_view>

#include "absl/strings/str_format.h"

namespace ktvm::dump {
namespace {

// include/linux/xarray.h: internal entries have the low bits 10; a node
// pointer is an internal entry above 4096 (smaller ones are retry/sibling
// markers).
bool IsInternal(uint64_t entry) { return (entry & 3) == 2; }
bool IsNode(uint64_t entry) { return IsInternal(entry) && entry > 4096; }
bool IsValue(uint64_t entry) { return (entry & 1) == 1; }

constexpr int kSlotsPerNode = 64;
// 64-bit indices need at most 11 levels of 6 bits.
constexpr int kMaxDepth = 11;

struct Walker {
  const GuestKernel& kernel;
  uint64_t shift_offset, slots_offset;
  size_t max_entries;
  std::vector<uint64_t> out;
  uint32_t skipped = 0;

  void Visit(uint64_t entry, int depth, int max_shift) {
    if (out.size() >= max_entries || entry == 0) return;
    if (!IsNode(entry)) {
      if (!IsInternal(entry) && !IsValue(entry)) out.push_back(entry);
      return;
    }
    if (depth >= kMaxDepth) {
      ++skipped;
      return;
    }
    const uint64_t node = entry - 2;
    std::vector<uint8_t> slots(kSlotsPerNode * 8);
    absl::StatusOr<uint32_t> shift_word = kernel.ReadU32(node + shift_offset);
    if (!shift_word.ok() ||
        !kernel.memory()
             .ReadVirtual(node + slots_offset, absl::MakeSpan(slots))
             .ok()) {
      ++skipped;
      return;
    }
    const uint8_t shift = *shift_word & 0xff;
    // Each level down removes 6 index bits; a node that does not is not a
    // child of its parent (a cycle or a stale pointer).
    if (shift % 6 != 0 || shift > max_shift) {
      ++skipped;
      return;
    }
    for (int i = 0; i < kSlotsPerNode; ++i) {
      uint64_t child = 0;
      std::memcpy(&child, slots.data() + 8 * i, 8);
      if (child == 0) continue;
      Visit(child, depth + 1, shift - 6);
    }
  }
};

}  // namespace

absl::StatusOr<std::vector<uint64_t>> WalkXArray(const GuestKernel& kernel,
                                                 uint64_t xa_head,
                                                 size_t max_entries,
                                                 uint32_t* skipped_nodes) {
  absl::StatusOr<uint64_t> shift = kernel.Offset("xa_node", "shift");
  if (!shift.ok()) return shift.status();
  absl::StatusOr<uint64_t> slots = kernel.Offset("xa_node", "slots");
  if (!slots.ok()) return slots.status();
  Walker w{kernel, *shift, *slots, max_entries, {}, 0};
  w.Visit(xa_head, 0, 60);
  if (skipped_nodes != nullptr) *skipped_nodes = w.skipped;
  return std::move(w.out);
}

namespace {

absl::StatusOr<std::vector<uint64_t>> ListIdr(const GuestKernel& kernel,
                                              std::string_view idr_symbol,
                                              size_t max_entries,
                                              uint32_t* skipped_nodes) {
  absl::StatusOr<uint64_t> idr = kernel.Symbol(idr_symbol);
  if (!idr.ok()) return idr.status();
  absl::StatusOr<uint64_t> head = kernel.Offset("idr", "idr_rt.xa_head");
  if (!head.ok()) return head.status();
  absl::StatusOr<uint64_t> root = kernel.ReadU64(*idr + *head);
  if (!root.ok()) return root.status();
  return WalkXArray(kernel, *root, max_entries, skipped_nodes);
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> ListBpfMaps(const GuestKernel& kernel,
                                                  size_t max_maps,
                                                  uint32_t* skipped_nodes) {
  return ListIdr(kernel, "map_idr", max_maps, skipped_nodes);
}

absl::StatusOr<std::vector<uint64_t>> ListBpfPrograms(const GuestKernel& kernel,
                                                      size_t max_programs,
                                                      uint32_t* skipped_nodes) {
  return ListIdr(kernel, "prog_idr", max_programs, skipped_nodes);
}

}  // namespace ktvm::dump

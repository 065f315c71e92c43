// Where the fields of the scx sdt_alloc allocator live, read from the
// scheduler's program BTF (these structs are compiled into the BPF program
// from lib/sdt_alloc.bpf.c and never appear in vmlinux BTF).
//
//   scx_allocator { sdt_pool pool; sdt_desc *root; }
//   sdt_pool      { void *slab; u64 elem_size; u64 max_elems; u64 idx; }
//   sdt_desc      { u64 allocated[8]; u64 nr_free; sdt_chunk *chunk; }
//   sdt_chunk     { union { sdt_desc *descs[512]; sdt_data *data[512]; } }
//   sdt_data      { union sdt_id { s64 val; { s32 idx; s32 genn; } } tid;
//                   u64 payload[]; }
#ifndef KTVM_SDT_SDT_LAYOUT_H_
#define KTVM_SDT_SDT_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

struct btf;

namespace ktvm::sdt {

// Three levels of 512-way chunks: idx = pos0 << 18 | pos1 << 9 | pos2.
inline constexpr int kSdtLevels = 3;
inline constexpr int kSdtFanoutShift = 9;
inline constexpr size_t kSdtFanout = size_t{1} << kSdtFanoutShift;
inline constexpr size_t kSdtBitmapWords = kSdtFanout / 64;
// union sdt_id: the whole sdt_data header; payload[] adds nothing.
inline constexpr size_t kSdtIdSize = 8;

// pool_set_size() rounds payload + header up to 8 and a chunk must fit a
// page, so anything outside [16, 4096] is a torn or uninitialised pool.
inline constexpr uint64_t kMinElemSize = 16;
inline constexpr uint64_t kMaxElemSize = 4096;

struct SdtAllocOffsets {
  uint64_t allocator_pool = 0;
  uint64_t allocator_root = 0;
  uint64_t allocator_size = 0;
  uint64_t pool_elem_size = 0;
  uint64_t desc_allocated = 0;
  uint64_t desc_nr_free = 0;
  uint64_t desc_chunk = 0;
  // Offset of the descs/data union inside sdt_chunk.
  uint64_t chunk_union = 0;
  uint64_t data_header_size = kSdtIdSize;

  // Bytes of a descriptor the walker reads to see all three fields.
  uint64_t DescReadSize() const;

  // scx_allocator, sdt_pool and sdt_desc must be full definitions (their
  // member offsets are needed); sdt_chunk and sdt_data may be forward
  // declarations, as in schedulers that only pass the pointers around, and
  // then take the fixed upstream layout. Errors name the struct and whether
  // it was missing or only forward-declared.
  static absl::StatusOr<SdtAllocOffsets> FromBtf(const struct ::btf* btf);
};

}  // namespace ktvm::sdt

#endif  // KTVM_SDT_SDT_LAYOUT_H_

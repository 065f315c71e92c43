#include "sdt/sdt_walker.h"

#include <bpf/btf.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"
#include "memory/virtual_memory.h"

namespace ktvm::sdt {
namespace {

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

int32_t LoadS32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Arena pointers compare by their offset in the window: the upper half is
// ignored by the kernel, so two pointers with equal low halves alias.
uint32_t ArenaOffset(uint64_t ptr) { return static_cast<uint32_t>(ptr); }

class TreeWalker {
 public:
  TreeWalker(const SdtWalkContext& ctx, const btf::RenderOptions& render,
             uint32_t payload_type_id, uint64_t payload_size,
             ktvm::report::SdtAllocatorSnapshot* out)
      : ctx_(ctx),
        render_(render),
        payload_type_id_(payload_type_id),
        payload_size_(payload_size),
        out_(out),
        renderer_(ctx.program_btf, render),
        slot_(ctx.offsets.data_header_size + payload_size) {}

  void Walk(uint64_t root_ptr) { Descend(root_ptr, 0); }

 private:
  // Counts an abandoned subtree or slot. Past kMaxSdtSkips the memory is
  // not an allocator tree at all, and the walk stops: with descriptors and
  // emitted entries also capped, every walk does a bounded number of reads.
  void Skip() {
    if (out_->skipped_subtrees() < UINT32_MAX) {
      out_->set_skipped_subtrees(out_->skipped_subtrees() + 1);
    }
    if (out_->skipped_subtrees() >= kMaxSdtSkips && !abandoned_) {
      abandoned_ = true;
      out_->set_error(absl::StrFormat(
          "walk abandoned after %u skipped subtrees: not an sdt_alloc tree",
          kMaxSdtSkips));
    }
  }
  bool Stopped() const { return abandoned_ || out_->truncated(); }

  bool Read(uint64_t arena_ptr, uint64_t offset, void* buf, size_t len) {
    return ctx_.kernel_memory
        ->ReadVirtual(ctx_.arena.KernelAddress(arena_ptr) + offset,
                      absl::MakeSpan(static_cast<uint8_t*>(buf), len))
        .ok();
  }

  // Recursion depth is bounded by kSdtLevels. Every descriptor and chunk is
  // visited at most once (by arena offset), which also ends cycles: a
  // descriptor pointing back at an ancestor is one already seen.
  void Descend(uint64_t desc_ptr, int level) {
    if (Stopped()) return;
    if (descriptors_read_ >= kMaxSdtDescriptors ||
        !seen_descs_.insert(ArenaOffset(desc_ptr)).second) {
      Skip();
      return;
    }
    ++descriptors_read_;

    std::array<uint8_t, 256> desc{};
    const uint64_t desc_size = ctx_.offsets.DescReadSize();
    if (desc_size > desc.size() || !Read(desc_ptr, 0, desc.data(), desc_size)) {
      Skip();
      return;
    }
    // nr_free never exceeds the fanout; more means a torn or
    // uninitialised descriptor whose pointers cannot be trusted either.
    const uint64_t nr_free = LoadU64(&desc[ctx_.offsets.desc_nr_free]);
    if (nr_free > kSdtFanout) {
      Skip();
      return;
    }
    const uint64_t chunk_ptr = LoadU64(&desc[ctx_.offsets.desc_chunk]);
    if (chunk_ptr == 0 || !seen_chunks_.insert(ArenaOffset(chunk_ptr)).second) {
      Skip();
      return;
    }
    std::array<uint64_t, kSdtFanout> children;
    if (!Read(chunk_ptr, ctx_.offsets.chunk_union, children.data(),
              sizeof(children))) {
      Skip();
      return;
    }

    if (level < kSdtLevels - 1) {
      // Interior bits only say "subtree full"; any non-NULL child may hold
      // live slots.
      for (size_t pos = 0; pos < kSdtFanout && !Stopped(); ++pos) {
        if (children[pos] != 0) Descend(children[pos], level + 1);
      }
      return;
    }

    for (size_t word = 0; word < kSdtBitmapWords; ++word) {
      uint64_t bits = LoadU64(&desc[ctx_.offsets.desc_allocated + word * 8]);
      while (bits != 0 && !abandoned_) {
        const size_t pos = word * 64 + __builtin_ctzll(bits);
        bits &= bits - 1;
        const uint64_t data_ptr = children[pos];
        // Set bit, NULL pointer: the snapshot caught the allocator between
        // setting the bit and storing the pointer. Nothing to show.
        if (data_ptr == 0) continue;
        // Only a further live slot makes the cap a truncation, so a tree
        // with exactly the cap's worth of entries is reported complete.
        if (out_->entries_size() >= static_cast<int>(kMaxSdtAllocEntries)) {
          out_->set_truncated(true);
          return;
        }
        EmitLeaf(data_ptr);
      }
    }
  }

  void EmitLeaf(uint64_t data_ptr) {
    const uint64_t header = ctx_.offsets.data_header_size;
    slot_.resize(header + payload_size_);
    bool payload_ok = Read(data_ptr, 0, slot_.data(), slot_.size());
    if (!payload_ok && !Read(data_ptr, 0, slot_.data(), header)) {
      Skip();  // The slot itself is unreadable: nothing to report.
      return;
    }
    ktvm::report::SdtAllocEntry* entry = out_->add_entries();
    entry->set_idx(LoadS32(&slot_[0]));
    entry->set_genn(LoadS32(&slot_[4]));
    entry->set_user_addr(data_ptr & 0xffffffffULL);
    ktvm::report::RenderedValue* payload = entry->mutable_payload();
    if (!payload_ok) {
      ktvm::report::RenderedUnsupported* u = payload->mutable_unsupported();
      u->set_reason(absl::StrFormat(
          "payload read failed: %u bytes at arena offset 0x%x + %u unreadable",
          payload_size_, data_ptr & 0xffffffffULL, header));
      return;
    }
    const absl::Span<const uint8_t> bytes =
        absl::MakeConstSpan(slot_).subspan(header);
    entry->set_zeroed(std::all_of(bytes.begin(), bytes.end(),
                                  [](uint8_t b) { return b == 0; }));
    if (payload_type_id_ != 0) {
      renderer_.RenderInto(payload_type_id_, bytes, payload);
    } else {
      payload->set_type_name(absl::StrFormat("u8[%u]", bytes.size()));
      payload->set_bytes_value(bytes.data(), bytes.size());
    }
  }

  const SdtWalkContext& ctx_;
  const btf::RenderOptions& render_;
  const uint32_t payload_type_id_;
  const uint64_t payload_size_;
  ktvm::report::SdtAllocatorSnapshot* const out_;
  // One renderer for every payload: the payload type's name and layout are
  // resolved once per walk, not once per entry.
  btf::ValueRenderer renderer_;
  std::vector<uint8_t> slot_;
  size_t descriptors_read_ = 0;
  bool abandoned_ = false;
  absl::flat_hash_set<uint32_t> seen_descs_;
  absl::flat_hash_set<uint32_t> seen_chunks_;
};

}  // namespace

absl::StatusOr<uint64_t> AllocatorElemSize(
    const SdtAllocOffsets& offsets, absl::Span<const uint8_t> allocator_bytes) {
  const uint64_t off = offsets.allocator_pool + offsets.pool_elem_size;
  if (off + 8 > allocator_bytes.size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "pool.elem_size at offset %u lies beyond the %u allocator bytes", off,
        allocator_bytes.size()));
  }
  return LoadU64(allocator_bytes.data() + off);
}

ktvm::report::SdtAllocatorSnapshot WalkSdtAllocator(
    const SdtWalkContext& ctx, std::string_view allocator_name,
    absl::Span<const uint8_t> allocator_bytes,
    const PayloadTypeChoice& payload) {
  ktvm::report::SdtAllocatorSnapshot snap;
  WalkSdtAllocatorInto(ctx, allocator_name, allocator_bytes, payload, &snap);
  return snap;
}

void WalkSdtAllocatorInto(const SdtWalkContext& ctx,
                          std::string_view allocator_name,
                          absl::Span<const uint8_t> allocator_bytes,
                          const PayloadTypeChoice& payload,
                          ktvm::report::SdtAllocatorSnapshot* out) {
  out->Clear();
  ktvm::report::SdtAllocatorSnapshot& snap = *out;
  snap.set_allocator_name(std::string(allocator_name));
  snap.set_payload_btf_type_id(payload.btf_type_id);
  snap.set_payload_type_name(payload.type_name);
  snap.set_payload_type_reason(payload.reason);

  if (ctx.kernel_memory == nullptr) {
    snap.set_error("no kernel memory reader to walk the arena with");
    return;
  }
  absl::StatusOr<uint64_t> elem_size =
      AllocatorElemSize(ctx.offsets, allocator_bytes);
  if (!elem_size.ok()) {
    snap.set_error(std::string(elem_size.status().message()));
    return;
  }
  snap.set_elem_size(*elem_size);
  if (*elem_size < kMinElemSize || *elem_size > kMaxElemSize) {
    snap.set_error(absl::StrFormat(
        "pool.elem_size %u outside [%u, %u]: torn or uninitialised allocator",
        *elem_size, kMinElemSize, kMaxElemSize));
    return;
  }
  const uint64_t header = ctx.offsets.data_header_size;
  if (*elem_size < header) {
    snap.set_error(absl::StrFormat(
        "pool.elem_size %u smaller than the %u-byte sdt_data header",
        *elem_size, header));
    return;
  }
  const uint64_t root_off = ctx.offsets.allocator_root;
  if (root_off + 8 > allocator_bytes.size()) {
    snap.set_error(
        absl::StrFormat("root at offset %u lies beyond the %u allocator bytes",
                        root_off, allocator_bytes.size()));
    return;
  }
  const uint64_t root = LoadU64(allocator_bytes.data() + root_off);
  if (root == 0) return;  // Nothing allocated yet.

  btf::RenderOptions render = ctx.render;
  if (render.memory == nullptr) render.memory = ctx.kernel_memory;
  if (!render.translate_pointer) {
    const ArenaWindow arena = ctx.arena;
    // Arena pointers in payloads are user addresses; everything else is
    // taken as a kernel address.
    render.translate_pointer = [arena](uint64_t p) -> std::optional<uint64_t> {
      if (arena.ContainsUserAddress(p)) return arena.KernelAddress(p);
      return p;
    };
  }
  TreeWalker walker(ctx, render, payload.btf_type_id, *elem_size - header,
                    &snap);
  walker.Walk(root);
}

absl::Status WalkProgramAllocatorsInto(
    SdtWalkContext ctx, absl::Span<const SectionImage> sections,
    google::protobuf::RepeatedPtrField<ktvm::report::SdtAllocatorSnapshot>*
        out) {
  absl::StatusOr<SdtAllocOffsets> offsets =
      SdtAllocOffsets::FromBtf(ctx.program_btf);
  if (!offsets.ok()) return offsets.status();
  ctx.offsets = *offsets;
  absl::StatusOr<btf::FoundStruct> allocator_type =
      btf::FindStructOrFwd(ctx.program_btf, "scx_allocator");
  if (!allocator_type.ok()) return allocator_type.status();

  for (const SectionImage& section : sections) {
    absl::StatusOr<std::vector<btf::DatasecVar>> vars =
        btf::DatasecVariables(ctx.program_btf, section.name);
    if (!vars.ok()) continue;  // The program has no such section.
    for (const btf::DatasecVar& var : *vars) {
      if (btf::PeelModifiers(ctx.program_btf, var.type_id) !=
          allocator_type->type_id) {
        continue;
      }
      const uint64_t end = uint64_t{var.offset} + ctx.offsets.allocator_size;
      if (end > section.bytes.size()) {
        ktvm::report::SdtAllocatorSnapshot& snap = *out->Add();
        snap.set_allocator_name(var.name);
        snap.set_error(absl::StrFormat(
            "%s: variable at offset %u (+%u bytes) lies beyond the %u-byte "
            "section image",
            section.name, var.offset, ctx.offsets.allocator_size,
            section.bytes.size()));
        continue;
      }
      const absl::Span<const uint8_t> bytes =
          section.bytes.subspan(var.offset, ctx.offsets.allocator_size);
      PayloadTypeChoice payload;
      absl::StatusOr<uint64_t> elem_size =
          AllocatorElemSize(ctx.offsets, bytes);
      if (elem_size.ok() && *elem_size >= ctx.offsets.data_header_size) {
        payload = DiscoverPayloadBtfId(
            ctx.program_btf, *elem_size - ctx.offsets.data_header_size,
            var.name);
      }
      WalkSdtAllocatorInto(ctx, var.name, bytes, payload, out->Add());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ktvm::report::SdtAllocatorSnapshot>>
WalkProgramAllocators(SdtWalkContext ctx,
                      absl::Span<const SectionImage> sections) {
  google::protobuf::RepeatedPtrField<ktvm::report::SdtAllocatorSnapshot> walked;
  if (absl::Status s =
          WalkProgramAllocatorsInto(std::move(ctx), sections, &walked);
      !s.ok()) {
    return s;
  }
  return std::vector<ktvm::report::SdtAllocatorSnapshot>(
      std::make_move_iterator(walked.begin()),
      std::make_move_iterator(walked.end()));
}

}  // namespace ktvm::sdt

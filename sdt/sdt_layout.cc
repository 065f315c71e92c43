#include "sdt/sdt_layout.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"

namespace ktvm::sdt {
namespace {

absl::Status Annotate(const absl::Status& st, const std::string& context) {
  return absl::Status(
      st.code(), absl::StrFormat("%s: %s", context, std::string(st.message())));
}

absl::StatusOr<uint32_t> FullStruct(const struct ::btf* btf, const char* name) {
  absl::StatusOr<btf::FoundStruct> found = btf::FindStructOrFwd(btf, name);
  if (!found.ok()) {
    return absl::NotFoundError(absl::StrFormat(
        "program BTF: struct %s not found (the scheduler does not link "
        "sdt_alloc?)",
        name));
  }
  if (found->is_fwd) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "program BTF: struct %s present only as BTF_KIND_FWD forward "
        "declaration; member offsets unavailable",
        name));
  }
  return found->type_id;
}

absl::StatusOr<uint64_t> Member(const struct ::btf* btf, uint32_t struct_id,
                                const char* struct_name, const char* member) {
  absl::StatusOr<btf::MemberLocation> loc =
      btf::MemberOffset(btf, struct_id, member);
  if (!loc.ok()) {
    return Annotate(loc.status(),
                    absl::StrFormat("program BTF: struct %s", struct_name));
  }
  if (loc->bitfield_size != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "program BTF: %s.%s is a bitfield", struct_name, member));
  }
  return loc->byte_offset;
}

}  // namespace

uint64_t SdtAllocOffsets::DescReadSize() const {
  return std::max(
      {desc_allocated + kSdtBitmapWords * 8, desc_nr_free + 8, desc_chunk + 8});
}

absl::StatusOr<SdtAllocOffsets> SdtAllocOffsets::FromBtf(
    const struct ::btf* btf) {
  if (btf == nullptr) {
    return absl::InvalidArgumentError("no program BTF");
  }
  SdtAllocOffsets o;

  absl::StatusOr<uint32_t> allocator = FullStruct(btf, "scx_allocator");
  if (!allocator.ok()) return allocator.status();
  absl::StatusOr<uint64_t> v = Member(btf, *allocator, "scx_allocator", "pool");
  if (!v.ok()) return v.status();
  o.allocator_pool = *v;
  v = Member(btf, *allocator, "scx_allocator", "root");
  if (!v.ok()) return v.status();
  o.allocator_root = *v;
  absl::StatusOr<uint64_t> size = btf::TypeSize(btf, *allocator);
  if (!size.ok()) {
    return Annotate(size.status(), "program BTF: sizeof(struct scx_allocator)");
  }
  o.allocator_size = *size;

  absl::StatusOr<uint32_t> pool = FullStruct(btf, "sdt_pool");
  if (!pool.ok()) return pool.status();
  v = Member(btf, *pool, "sdt_pool", "elem_size");
  if (!v.ok()) return v.status();
  o.pool_elem_size = *v;

  absl::StatusOr<uint32_t> desc = FullStruct(btf, "sdt_desc");
  if (!desc.ok()) return desc.status();
  v = Member(btf, *desc, "sdt_desc", "allocated");
  if (!v.ok()) return v.status();
  o.desc_allocated = *v;
  v = Member(btf, *desc, "sdt_desc", "nr_free");
  if (!v.ok()) return v.status();
  o.desc_nr_free = *v;
  v = Member(btf, *desc, "sdt_desc", "chunk");
  if (!v.ok()) return v.status();
  o.desc_chunk = *v;

  // Both union arms alias, so either name gives the offset; a forward
  // declaration means the upstream layout (the union at offset 0).
  absl::StatusOr<btf::FoundStruct> chunk =
      btf::FindStructOrFwd(btf, "sdt_chunk");
  if (!chunk.ok()) {
    return absl::NotFoundError("program BTF: struct sdt_chunk not found");
  }
  if (!chunk->is_fwd) {
    v = Member(btf, chunk->type_id, "sdt_chunk", "descs");
    if (!v.ok()) v = Member(btf, chunk->type_id, "sdt_chunk", "data");
    if (!v.ok()) {
      return absl::FailedPreconditionError(
          "program BTF: struct sdt_chunk has neither a descs nor a data "
          "member");
    }
    o.chunk_union = *v;
  }

  absl::StatusOr<btf::FoundStruct> data = btf::FindStructOrFwd(btf, "sdt_data");
  if (!data.ok()) {
    return absl::NotFoundError("program BTF: struct sdt_data not found");
  }
  if (!data->is_fwd) {
    size = btf::TypeSize(btf, data->type_id);
    if (!size.ok()) {
      return Annotate(size.status(), "program BTF: sizeof(struct sdt_data)");
    }
    o.data_header_size = *size;
  }
  return o;
}

}  // namespace ktvm::sdt

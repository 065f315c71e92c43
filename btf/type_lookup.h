// Name-based questions about BTF types: where a member lives, how big a type
// is, what an enumerator is worth, which variables a DATASEC holds. Walkers
// (sdt/, the dump) ask these instead of hard-coding kernel layouts.
#ifndef KTVM_BTF_TYPE_LOOKUP_H_
#define KTVM_BTF_TYPE_LOOKUP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

struct btf;

namespace ktvm::btf {

// A struct/union found by name. A forward declaration alone is reported with
// is_fwd = true so callers can say "present only as a forward declaration"
// rather than "not found".
struct FoundStruct {
  uint32_t type_id = 0;
  bool is_fwd = false;
  bool is_union = false;
};

// Finds a struct or union named `name` ("task_ctx", or with a "struct " /
// "union " prefix). A full definition wins over a forward declaration.
// NotFoundError when neither exists.
absl::StatusOr<FoundStruct> FindStructOrFwd(const struct ::btf* btf,
                                            std::string_view name);

// Like FindStructOrFwd but only a full definition is acceptable:
// NotFoundError when absent, FailedPreconditionError when only a forward
// declaration exists.
absl::StatusOr<uint32_t> RequireFullStruct(const struct ::btf* btf,
                                           std::string_view name);

struct MemberLocation {
  // From the start of the outermost struct.
  uint64_t bit_offset = 0;
  // Non-zero for bitfields.
  uint32_t bitfield_size = 0;
  // The member's declared type (modifiers not peeled).
  uint32_t type_id = 0;
  // bit_offset / 8 (rounded down for bitfields).
  uint64_t byte_offset = 0;
};

// Resolves "a.b.c" (and "a[3].b" for arrays) inside struct/union `struct_id`.
// Members of anonymous structs/unions are found as if they were direct
// members, as C does. Typedefs/modifiers on intermediate members are peeled.
absl::StatusOr<MemberLocation> MemberOffset(const struct ::btf* btf,
                                            uint32_t struct_id,
                                            std::string_view dotted_path);

// Size in bytes of `type_id` (modifiers and typedefs peeled; arrays are
// element size * count). Error for void, functions and forward declarations.
absl::StatusOr<uint64_t> TypeSize(const struct ::btf* btf, uint32_t type_id);

// Value of `enumerator_name`. With an empty `enum_name` every enum (and
// enum64) is searched. NotFoundError names what was missing.
absl::StatusOr<int64_t> EnumValue(const struct ::btf* btf,
                                  std::string_view enum_name,
                                  std::string_view enumerator_name);

struct DatasecVar {
  std::string name;
  // Type of the variable (not the VAR node).
  uint32_t type_id = 0;
  uint32_t offset = 0;
  uint32_t size = 0;
};

// Variables of the DATASEC named `section_name` (e.g. ".bss",
// ".data.arena_alloc"), in section order.
absl::StatusOr<std::vector<DatasecVar>> DatasecVariables(
    const struct ::btf* btf, std::string_view section_name);

// Skips typedef/const/volatile/restrict/type_tag. Returns 0 (void) on a
// dangling id or a modifier loop.
uint32_t PeelModifiers(const struct ::btf* btf, uint32_t type_id);

// Skips const/volatile/restrict/type_tag but keeps typedefs.
uint32_t PeelQualifiers(const struct ::btf* btf, uint32_t type_id);

// The C spelling of a type: "struct task_ctx", "u64", "char[16]",
// "struct foo *", "const int". Bounded depth; never fails.
std::string TypeName(const struct ::btf* btf, uint32_t type_id);

// Finds a named type of a given BTF_KIND_*; NotFoundError otherwise.
absl::StatusOr<uint32_t> FindType(const struct ::btf* btf,
                                  std::string_view name, int btf_kind);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_TYPE_LOOKUP_H_

#include "btf/type_lookup.h"

#include <bpf/btf.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::btf {
namespace {

// Debian's Abseil has its own string_view type, so these work on
// std::string_view directly.
bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// Modifier chains in real BTF are a handful deep; anything longer is a loop
// in corrupt data.
constexpr int kMaxModifierChain = 64;
// Anonymous members nest a few levels in the kernel; bound the search.
constexpr int kMaxAnonDepth = 32;

std::string_view NameOf(const struct ::btf* btf, const struct btf_type* t) {
  const char* n = btf__name_by_offset(btf, t->name_off);
  return n ? std::string_view(n) : std::string_view();
}

int32_t FindByNameKind(const struct ::btf* btf, std::string_view name,
                       int kind) {
  // libbpf wants a NUL-terminated name.
  std::string owned(name);
  return btf__find_by_name_kind(btf, owned.c_str(), kind);
}

// Finds `name` among the members of composite `t`, descending into anonymous
// struct/union members. Adds the member's bit offset to *bit_offset.
bool FindMember(const struct ::btf* btf, const struct btf_type* t,
                std::string_view name, int depth, uint64_t* bit_offset,
                uint32_t* bitfield_size, uint32_t* type_id) {
  if (depth > kMaxAnonDepth) return false;
  const struct btf_member* m = btf_members(t);
  const uint32_t vlen = btf_vlen(t);
  for (uint32_t i = 0; i < vlen; ++i, ++m) {
    const char* mname = btf__name_by_offset(btf, m->name_off);
    const uint32_t off = btf_member_bit_offset(t, i);
    if (mname != nullptr && mname[0] != '\0') {
      if (name == mname) {
        *bit_offset += off;
        *bitfield_size = btf_member_bitfield_size(t, i);
        *type_id = m->type;
        return true;
      }
      continue;
    }
    const uint32_t inner_id = PeelModifiers(btf, m->type);
    const struct btf_type* inner = btf__type_by_id(btf, inner_id);
    if (inner == nullptr || !btf_is_composite(inner)) continue;
    uint64_t inner_off = 0;
    if (FindMember(btf, inner, name, depth + 1, &inner_off, bitfield_size,
                   type_id)) {
      *bit_offset += off + inner_off;
      return true;
    }
  }
  return false;
}

// Splits "b[3][2]" into "b" and {3, 2}.
absl::Status ParseComponent(std::string_view comp, std::string_view* name,
                            std::vector<uint64_t>* indices) {
  const size_t bracket = comp.find('[');
  *name = comp.substr(0, bracket);
  if (name->empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("empty member name in path component '%s'", comp));
  }
  std::string_view rest =
      bracket == std::string_view::npos ? "" : comp.substr(bracket);
  while (!rest.empty()) {
    const size_t close = rest.find(']');
    if (rest[0] != '[' || close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("malformed index in path component '%s'", comp));
    }
    uint64_t idx = 0;
    const std::string_view digits = rest.substr(1, close - 1);
    const auto [end, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), idx);
    if (digits.empty() || ec != std::errc() ||
        end != digits.data() + digits.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bad index in path component '%s'", comp));
    }
    indices->push_back(idx);
    rest = rest.substr(close + 1);
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t PeelModifiers(const struct ::btf* btf, uint32_t type_id) {
  for (int i = 0; i < kMaxModifierChain; ++i) {
    const struct btf_type* t = btf__type_by_id(btf, type_id);
    if (t == nullptr) return 0;
    if (btf_is_mod(t) || btf_is_typedef(t)) {
      type_id = t->type;
      continue;
    }
    return type_id;
  }
  return 0;
}

uint32_t PeelQualifiers(const struct ::btf* btf, uint32_t type_id) {
  for (int i = 0; i < kMaxModifierChain; ++i) {
    const struct btf_type* t = btf__type_by_id(btf, type_id);
    if (t == nullptr) return 0;
    if (btf_is_mod(t)) {
      type_id = t->type;
      continue;
    }
    return type_id;
  }
  return 0;
}

absl::StatusOr<uint32_t> FindType(const struct ::btf* btf,
                                  std::string_view name, int btf_kind) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  const int32_t id = FindByNameKind(btf, name, btf_kind);
  if (id <= 0) {
    return absl::NotFoundError(absl::StrFormat(
        "BTF has no type named '%s' of kind %d", name, btf_kind));
  }
  return static_cast<uint32_t>(id);
}

absl::StatusOr<FoundStruct> FindStructOrFwd(const struct ::btf* btf,
                                            std::string_view name) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  bool want_struct = true, want_union = true;
  if (ConsumePrefix(&name, "struct ")) {
    want_union = false;
  } else if (ConsumePrefix(&name, "union ")) {
    want_struct = false;
  }
  if (name.empty()) return absl::InvalidArgumentError("empty struct name");
  if (want_struct) {
    const int32_t id = FindByNameKind(btf, name, BTF_KIND_STRUCT);
    if (id > 0) return FoundStruct{static_cast<uint32_t>(id), false, false};
  }
  if (want_union) {
    const int32_t id = FindByNameKind(btf, name, BTF_KIND_UNION);
    if (id > 0) return FoundStruct{static_cast<uint32_t>(id), false, true};
  }
  // btf__find_by_name_kind returns the first FWD; a struct-fwd and a
  // union-fwd of the same name are both possible, so scan.
  const uint32_t n = btf__type_cnt(btf);
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_fwd(t) || NameOf(btf, t) != name) continue;
    const bool is_union = btf_kflag(t);
    if ((is_union && want_union) || (!is_union && want_struct)) {
      return FoundStruct{id, true, is_union};
    }
  }
  return absl::NotFoundError(
      absl::StrFormat("BTF has no struct or union named '%s'", name));
}

absl::StatusOr<uint32_t> RequireFullStruct(const struct ::btf* btf,
                                           std::string_view name) {
  absl::StatusOr<FoundStruct> found = FindStructOrFwd(btf, name);
  if (!found.ok()) return found.status();
  if (found->is_fwd) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "'%s' is present in BTF only as a forward declaration (type id %u)",
        name, found->type_id));
  }
  return found->type_id;
}

absl::StatusOr<MemberLocation> MemberOffset(const struct ::btf* btf,
                                            uint32_t struct_id,
                                            std::string_view dotted_path) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  if (dotted_path.empty()) {
    return absl::InvalidArgumentError("empty member path");
  }
  MemberLocation loc;
  uint32_t cur = struct_id;
  for (std::string_view comp : SplitDots(dotted_path)) {
    std::string_view name;
    std::vector<uint64_t> indices;
    if (absl::Status s = ParseComponent(comp, &name, &indices); !s.ok()) {
      return s;
    }
    const uint32_t peeled = PeelModifiers(btf, cur);
    const struct btf_type* t = btf__type_by_id(btf, peeled);
    if (t == nullptr || !btf_is_composite(t)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cannot look up member '%s' of '%s' (type id %u): not a struct or "
          "union",
          name, TypeName(btf, cur), cur));
    }
    uint64_t bit_off = 0;
    uint32_t bitfield = 0, member_type = 0;
    if (!FindMember(btf, t, name, 0, &bit_off, &bitfield, &member_type)) {
      return absl::NotFoundError(
          absl::StrFormat("%s has no member '%s' (path '%s')",
                          TypeName(btf, peeled), name, dotted_path));
    }
    loc.bit_offset += bit_off;
    loc.bitfield_size = bitfield;
    cur = member_type;
    for (uint64_t idx : indices) {
      const struct btf_type* at = btf__type_by_id(btf, PeelModifiers(btf, cur));
      if (at == nullptr || !btf_is_array(at)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "member '%s' in path '%s' is not an array", name, dotted_path));
      }
      const struct btf_array* arr = btf_array(at);
      if (idx >= arr->nelems) {
        return absl::OutOfRangeError(absl::StrFormat(
            "index %u of '%s' is past its %u elements (path '%s')", idx, name,
            arr->nelems, dotted_path));
      }
      absl::StatusOr<uint64_t> esz = TypeSize(btf, arr->type);
      if (!esz.ok()) return esz.status();
      loc.bit_offset += idx * *esz * 8;
      loc.bitfield_size = 0;
      cur = arr->type;
    }
  }
  loc.type_id = cur;
  loc.byte_offset = loc.bit_offset / 8;
  return loc;
}

absl::StatusOr<uint64_t> TypeSize(const struct ::btf* btf, uint32_t type_id) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  const int64_t sz = btf__resolve_size(btf, type_id);
  if (sz < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("type id %u (%s) has no size: %s", type_id,
                        TypeName(btf, type_id), std::strerror(-sz)));
  }
  return static_cast<uint64_t>(sz);
}

namespace {

bool EnumeratorIn(const struct ::btf* btf, const struct btf_type* t,
                  std::string_view enumerator, int64_t* value) {
  const uint32_t vlen = btf_vlen(t);
  if (btf_is_enum(t)) {
    const struct btf_enum* e = btf_enum(t);
    for (uint32_t i = 0; i < vlen; ++i, ++e) {
      const char* n = btf__name_by_offset(btf, e->name_off);
      if (n != nullptr && enumerator == n) {
        *value = btf_kflag(t)
                     ? static_cast<int64_t>(e->val)
                     : static_cast<int64_t>(static_cast<uint32_t>(e->val));
        return true;
      }
    }
  } else if (btf_is_enum64(t)) {
    const struct btf_enum64* e = btf_enum64(t);
    for (uint32_t i = 0; i < vlen; ++i, ++e) {
      const char* n = btf__name_by_offset(btf, e->name_off);
      if (n != nullptr && enumerator == n) {
        *value = static_cast<int64_t>(btf_enum64_value(e));
        return true;
      }
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<int64_t> EnumValue(const struct ::btf* btf,
                                  std::string_view enum_name,
                                  std::string_view enumerator_name) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  ConsumePrefix(&enum_name, "enum ");
  const uint32_t n = btf__type_cnt(btf);
  bool enum_seen = false;
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_any_enum(t)) continue;
    if (!enum_name.empty()) {
      if (NameOf(btf, t) != enum_name) continue;
      enum_seen = true;
    }
    int64_t v = 0;
    if (EnumeratorIn(btf, t, enumerator_name, &v)) return v;
  }
  if (!enum_name.empty() && !enum_seen) {
    return absl::NotFoundError(
        absl::StrFormat("BTF has no enum named '%s'", enum_name));
  }
  if (enum_name.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "no enum in BTF has an enumerator '%s'", enumerator_name));
  }
  return absl::NotFoundError(absl::StrFormat("enum %s has no enumerator '%s'",
                                             enum_name, enumerator_name));
}

absl::StatusOr<std::vector<DatasecVar>> DatasecVariables(
    const struct ::btf* btf, std::string_view section_name) {
  if (btf == nullptr) return absl::InvalidArgumentError("null BTF");
  const int32_t id = FindByNameKind(btf, section_name, BTF_KIND_DATASEC);
  if (id <= 0) {
    return absl::NotFoundError(
        absl::StrFormat("BTF has no DATASEC named '%s'", section_name));
  }
  const struct btf_type* sec = btf__type_by_id(btf, id);
  std::vector<DatasecVar> out;
  const struct btf_var_secinfo* vsi = btf_var_secinfos(sec);
  const uint32_t vlen = btf_vlen(sec);
  out.reserve(vlen);
  for (uint32_t i = 0; i < vlen; ++i, ++vsi) {
    const struct btf_type* var = btf__type_by_id(btf, vsi->type);
    if (var == nullptr) {
      return absl::DataLossError(
          absl::StrFormat("DATASEC '%s' entry %u points at missing type id %u",
                          section_name, i, vsi->type));
    }
    DatasecVar v;
    v.name = std::string(NameOf(btf, var));
    // Entries are VARs for variables, FUNCs for extern kfuncs in .ksyms.
    v.type_id = btf_is_var(var) ? var->type : vsi->type;
    v.offset = vsi->offset;
    v.size = vsi->size;
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

std::string TypeNameImpl(const struct ::btf* btf, uint32_t type_id, int depth) {
  if (depth > 16) return "...";
  if (type_id == 0) return "void";
  const struct btf_type* t = btf__type_by_id(btf, type_id);
  if (t == nullptr) return absl::StrFormat("<bad type id %u>", type_id);
  const std::string name(NameOf(btf, t));
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_FUNC:
    case BTF_KIND_VAR:
    case BTF_KIND_DATASEC:
      return name;
    case BTF_KIND_STRUCT:
      return name.empty() ? "struct {...}" : "struct " + name;
    case BTF_KIND_UNION:
      return name.empty() ? "union {...}" : "union " + name;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return name.empty() ? "enum {...}" : "enum " + name;
    case BTF_KIND_FWD:
      return (btf_kflag(t) ? "union " : "struct ") + name;
    case BTF_KIND_PTR: {
      std::string target = TypeNameImpl(btf, t->type, depth + 1);
      return !target.empty() && target.back() == '*' ? target + "*"
                                                     : target + " *";
    }
    case BTF_KIND_CONST:
      return "const " + TypeNameImpl(btf, t->type, depth + 1);
    case BTF_KIND_VOLATILE:
      return "volatile " + TypeNameImpl(btf, t->type, depth + 1);
    case BTF_KIND_RESTRICT:
      return TypeNameImpl(btf, t->type, depth + 1) + " restrict";
    case BTF_KIND_TYPE_TAG:
      return TypeNameImpl(btf, t->type, depth + 1);
    case BTF_KIND_ARRAY: {
      // C writes the outermost dimension first: int a[2][3] is an array of
      // 2 arrays of 3.
      std::string dims;
      uint32_t id = type_id;
      for (int i = 0; i < 8; ++i) {
        const struct btf_type* at = btf__type_by_id(btf, id);
        if (at == nullptr || !btf_is_array(at)) break;
        absl::StrAppend(&dims, "[", btf_array(at)->nelems, "]");
        id = btf_array(at)->type;
      }
      return TypeNameImpl(btf, id, depth + 1) + dims;
    }
    case BTF_KIND_FUNC_PROTO:
      return TypeNameImpl(btf, t->type, depth + 1) + "(*)(...)";
    default:
      return absl::StrFormat("<kind %d>", btf_kind(t));
  }
}

}  // namespace

std::string TypeName(const struct ::btf* btf, uint32_t type_id) {
  if (btf == nullptr) return "<no btf>";
  return TypeNameImpl(btf, type_id, 0);
}

}  // namespace ktvm::btf

#include "btf/value_renderer.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"
#include "btf/value_renderer_memory.h"

namespace ktvm::btf {

// Rendering the same few types thousands of times (allocator payloads, map
// values) made TypeName's string building and size resolution a large
// share of the cost; both depend only on the type id.
struct RenderTypeCache {
  absl::flat_hash_map<uint32_t, std::string> names;
  absl::flat_hash_map<uint32_t, absl::StatusOr<uint64_t>> sizes;

  const std::string& Name(const struct ::btf* btf, uint32_t type_id) {
    auto [it, inserted] = names.try_emplace(type_id);
    if (inserted) it->second = TypeName(btf, type_id);
    return it->second;
  }
  const absl::StatusOr<uint64_t>& Size(const struct ::btf* btf,
                                       uint32_t type_id) {
    auto it = sizes.find(type_id);
    if (it == sizes.end()) {
      it = sizes.emplace(type_id, TypeSize(btf, type_id)).first;
    }
    return it->second;
  }
};

namespace {

using ::ktvm::report::RenderedValue;

// `char *` members are almost always C strings; read at most this much.
constexpr size_t kMaxPointedString = 256;
// Guest page granularity for string reads: a string may end just before an
// unmapped page, so never read across a page boundary in one go.
constexpr uint64_t kPage = 4096;
// Real kernel types nest a few dozen levels at most (arrays of structs of
// unions ...), pointers included.
constexpr int kMaxNesting = 200;

uint64_t LoadLe(absl::Span<const uint8_t> bytes, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size && i < 8; ++i) {
    v |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  }
  return v;
}

int64_t SignExtend(uint64_t v, uint32_t bits) {
  if (bits == 0 || bits >= 64) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (bits - 1);
  v &= (sign << 1) - 1;
  return static_cast<int64_t>((v ^ sign) - sign);
}

// Reads `nbits` bits starting at bit `bit_off` of little-endian `bytes`.
// Returns false when they are not all inside `bytes`.
bool ExtractBits(absl::Span<const uint8_t> bytes, uint64_t bit_off,
                 uint32_t nbits, uint64_t* out) {
  if (nbits == 0 || nbits > 64) return false;
  const uint64_t end_bit = bit_off + nbits;
  if ((end_bit + 7) / 8 > bytes.size()) return false;
  uint64_t v = 0;
  for (uint32_t i = 0; i < nbits; ++i) {
    const uint64_t b = bit_off + i;
    if ((bytes[b / 8] >> (b % 8)) & 1) v |= uint64_t{1} << i;
  }
  *out = v;
  return true;
}

bool IsCharType(const struct ::btf* btf, uint32_t type_id) {
  const struct btf_type* t = btf__type_by_id(btf, PeelModifiers(btf, type_id));
  if (t == nullptr || !btf_is_int(t) || t->size != 1) return false;
  if (btf_int_encoding(t) & BTF_INT_CHAR) return true;
  const char* n = btf__name_by_offset(btf, t->name_off);
  return n != nullptr && std::strcmp(n, "char") == 0;
}

std::string TextUpToNul(absl::Span<const uint8_t> bytes) {
  const auto nul = std::find(bytes.begin(), bytes.end(), 0);
  return std::string(bytes.begin(), nul);
}

// A kernel cpumask: struct cpumask { unsigned long bits[N]; } (or a struct
// whose name ends in "cpumask" with the same single member).
bool IsCpumask(const struct ::btf* btf, const struct btf_type* t) {
  if (!btf_is_struct(t) || btf_vlen(t) != 1) return false;
  const char* n = btf__name_by_offset(btf, t->name_off);
  if (n == nullptr) return false;
  const std::string_view name(n);
  const std::string_view suffix = "cpumask";
  if (name.size() < suffix.size() ||
      name.substr(name.size() - suffix.size()) != suffix) {
    return false;
  }
  const struct btf_member* m = btf_members(t);
  const char* mn = btf__name_by_offset(btf, m->name_off);
  if (mn == nullptr || std::strcmp(mn, "bits") != 0) return false;
  const struct btf_type* arr =
      btf__type_by_id(btf, PeelModifiers(btf, m->type));
  return arr != nullptr && btf_is_array(arr);
}

class Renderer {
 public:
  Renderer(const struct ::btf* btf, const RenderOptions& opts,
           RenderTypeCache* cache)
      : btf_(btf), opts_(opts), cache_(cache) {}

  void Render(uint32_t type_id, absl::Span<const uint8_t> bytes, int depth,
              RenderedValue* out) {
    out->set_type_name(TypeNameOf(type_id));
    if (++nodes_ > opts_.max_total_nodes) {
      out->mutable_truncated()->set_reason(absl::StrFormat(
          "render node cap (%u) reached", opts_.max_total_nodes));
      return;
    }
    // Valid C cannot nest a struct in itself, but corrupt BTF can; bound
    // the recursion so it cannot exhaust the stack.
    if (nesting_ >= kMaxNesting) {
      out->mutable_truncated()->set_reason(
          absl::StrFormat("nesting deeper than %d levels", kMaxNesting));
      return;
    }
    ++nesting_;
    RenderKind(type_id, bytes, depth, out);
    --nesting_;
  }

 private:
  void RenderKind(uint32_t type_id, absl::Span<const uint8_t> bytes, int depth,
                  RenderedValue* out) {
    const uint32_t id = PeelModifiers(btf_, type_id);
    const struct btf_type* t = btf__type_by_id(btf_, id);
    if (t == nullptr || id == 0) {
      Unsupported(out, id == 0 ? "void or unresolvable type" : "bad type id",
                  bytes);
      return;
    }
    switch (btf_kind(t)) {
      case BTF_KIND_INT:
        RenderInt(id, t, bytes, out);
        return;
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
        RenderEnumBytes(t, bytes, out);
        return;
      case BTF_KIND_FLOAT:
        RenderFloat(t, bytes, out);
        return;
      case BTF_KIND_PTR:
        RenderPointer(t, bytes, depth, out);
        return;
      case BTF_KIND_ARRAY:
        RenderArray(t, bytes, depth, out);
        return;
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
        if (IsCpumask(btf_, t)) {
          RenderCpumask(t, bytes, out);
        } else {
          RenderComposite(t, bytes, depth, out);
        }
        return;
      case BTF_KIND_DATASEC:
        RenderDatasec(t, bytes, depth, out);
        return;
      case BTF_KIND_VAR:
        Render(t->type, bytes, depth, out);
        out->set_type_name(TypeNameOf(t->type));
        return;
      case BTF_KIND_FWD:
        Unsupported(out, "type is only forward-declared in BTF", bytes);
        return;
      case BTF_KIND_FUNC:
      case BTF_KIND_FUNC_PROTO:
        Unsupported(out, "function type has no value", bytes);
        return;
      default:
        Unsupported(out, absl::StrFormat("BTF kind %d", btf_kind(t)), bytes);
        return;
    }
  }

  bool CanRead() const { return opts_.read_virtual || opts_.memory != nullptr; }

  absl::Status Read(uint64_t va, absl::Span<uint8_t> out) const {
    if (opts_.read_virtual) return opts_.read_virtual(va, out);
    return ReadThroughReader(opts_.memory, va, out);
  }

  void Unsupported(RenderedValue* out, const std::string& reason,
                   absl::Span<const uint8_t> bytes) {
    auto* u = out->mutable_unsupported();
    u->set_reason(reason);
    const size_t keep = std::min<size_t>(bytes.size(), 256);
    u->set_raw(bytes.data(), keep);
  }

  bool NeedBytes(RenderedValue* out, absl::Span<const uint8_t> bytes,
                 uint64_t need) {
    if (bytes.size() >= need) return true;
    Unsupported(out,
                absl::StrFormat("value needs %u bytes, only %u available", need,
                                bytes.size()),
                bytes);
    return false;
  }

  // Renders an already-extracted integer (from bytes or a bitfield) of
  // scalar type `id` (INT or ENUM, peeled) that is `nbits` wide.
  void RenderScalarBits(uint32_t id, uint64_t raw, uint32_t nbits,
                        RenderedValue* out) {
    const struct btf_type* t = btf__type_by_id(btf_, id);
    if (t != nullptr && btf_is_any_enum(t)) {
      const int64_t v =
          btf_kflag(t) ? SignExtend(raw, nbits) : static_cast<int64_t>(raw);
      SetEnum(t, v, out);
      return;
    }
    if (t == nullptr || !btf_is_int(t)) {
      out->set_uint_value(raw);
      return;
    }
    const uint8_t enc = btf_int_encoding(t);
    if (enc & BTF_INT_BOOL) {
      out->set_bool_value(raw != 0);
    } else if (IsCharType(btf_, id) && nbits == 8) {
      const char c = static_cast<char>(raw);
      out->set_char_value(c == 0 ? std::string() : std::string(1, c));
    } else if (enc & BTF_INT_SIGNED) {
      out->set_int_value(SignExtend(raw, nbits));
    } else {
      out->set_uint_value(raw);
    }
  }

  void RenderInt(uint32_t id, const struct btf_type* t,
                 absl::Span<const uint8_t> bytes, RenderedValue* out) {
    if (!NeedBytes(out, bytes, t->size)) return;
    if (t->size > 8) {
      // __int128 and friends: keep the bytes.
      out->set_bytes_value(bytes.data(), t->size);
      return;
    }
    // Old-style BTF int bitfields encode offset/bits in the int itself.
    const uint32_t bits = btf_int_bits(t);
    const uint32_t off = btf_int_offset(t);
    uint64_t raw = 0;
    if (off != 0 || bits != t->size * 8) {
      if (!ExtractBits(bytes, off, bits, &raw)) {
        Unsupported(out, "int bits outside its storage", bytes);
        return;
      }
    } else {
      raw = LoadLe(bytes, t->size);
    }
    RenderScalarBits(id, raw, bits, out);
  }

  void SetEnum(const struct btf_type* t, int64_t v, RenderedValue* out) {
    auto* e = out->mutable_enum_value();
    e->set_value(v);
    const uint32_t vlen = btf_vlen(t);
    if (btf_is_enum(t)) {
      const struct btf_enum* en = btf_enum(t);
      for (uint32_t i = 0; i < vlen; ++i, ++en) {
        const int64_t ev =
            btf_kflag(t) ? static_cast<int64_t>(en->val)
                         : static_cast<int64_t>(static_cast<uint32_t>(en->val));
        if (ev == v) {
          e->set_variant(btf__name_by_offset(btf_, en->name_off));
          return;
        }
      }
    } else {
      const struct btf_enum64* en = btf_enum64(t);
      for (uint32_t i = 0; i < vlen; ++i, ++en) {
        if (static_cast<int64_t>(btf_enum64_value(en)) == v) {
          e->set_variant(btf__name_by_offset(btf_, en->name_off));
          return;
        }
      }
    }
  }

  void RenderEnumBytes(const struct btf_type* t,
                       absl::Span<const uint8_t> bytes, RenderedValue* out) {
    if (t->size == 0 || t->size > 8) {
      Unsupported(out, absl::StrFormat("enum of size %u", t->size), bytes);
      return;
    }
    if (!NeedBytes(out, bytes, t->size)) return;
    const uint64_t raw = LoadLe(bytes, t->size);
    const int64_t v =
        btf_kflag(t) ? SignExtend(raw, t->size * 8) : static_cast<int64_t>(raw);
    SetEnum(t, v, out);
  }

  void RenderFloat(const struct btf_type* t, absl::Span<const uint8_t> bytes,
                   RenderedValue* out) {
    if (!NeedBytes(out, bytes, t->size)) return;
    if (t->size == 4) {
      float f;
      std::memcpy(&f, bytes.data(), 4);
      out->set_float_value(f);
    } else if (t->size == 8) {
      double d;
      std::memcpy(&d, bytes.data(), 8);
      out->set_float_value(d);
    } else {
      out->set_bytes_value(bytes.data(), t->size);
    }
  }

  void RenderPointer(const struct btf_type* t, absl::Span<const uint8_t> bytes,
                     int depth, RenderedValue* out) {
    if (!NeedBytes(out, bytes, 8)) return;
    const uint64_t addr = LoadLe(bytes, 8);
    auto* p = out->mutable_pointer_value();
    p->set_address(addr);
    if (addr == 0) {
      p->set_skip_reason("NULL");
      return;
    }
    const uint32_t target_id = PeelModifiers(btf_, t->type);
    const struct btf_type* target = btf__type_by_id(btf_, target_id);
    if (target_id == 0 || target == nullptr) {
      p->set_skip_reason("void pointer");
      return;
    }
    if (btf_is_func_proto(target)) {
      p->set_skip_reason("function pointer");
      return;
    }
    if (btf_is_fwd(target)) {
      p->set_skip_reason("pointee is only forward-declared in BTF");
      return;
    }
    if (depth >= opts_.max_pointer_depth) {
      p->set_skip_reason(
          absl::StrFormat("pointer depth limit (%d)", opts_.max_pointer_depth));
      return;
    }
    if (!CanRead()) {
      p->set_skip_reason("no memory reader");
      return;
    }
    uint64_t va = addr;
    if (opts_.translate_pointer) {
      std::optional<uint64_t> mapped = opts_.translate_pointer(addr);
      if (!mapped) {
        p->set_skip_reason("address not translatable");
        return;
      }
      va = *mapped;
    }
    for (const auto& [seen_va, seen_type] : path_) {
      if (seen_va == va && seen_type == target_id) {
        p->set_skip_reason(
            absl::StrFormat("cycle: 0x%x is already being rendered above", va));
        return;
      }
    }
    if (IsCharType(btf_, target_id)) {
      RenderPointedString(va, p->mutable_target(), t->type, p);
      return;
    }
    const absl::StatusOr<uint64_t> size = SizeOf(target_id);
    if (!size.ok() || *size == 0) {
      p->set_skip_reason("pointee has no size");
      return;
    }
    if (*size > opts_.max_pointee_bytes) {
      p->set_skip_reason(absl::StrFormat("pointee is %u bytes, cap is %u",
                                         *size, opts_.max_pointee_bytes));
      return;
    }
    std::vector<uint8_t> buf(*size);
    if (absl::Status s = Read(va, absl::MakeSpan(buf)); !s.ok()) {
      p->set_skip_reason(absl::StrCat("unreadable: ", s.message()));
      return;
    }
    path_.emplace_back(va, target_id);
    Render(t->type, buf, depth + 1, p->mutable_target());
    path_.pop_back();
  }

  void RenderPointedString(uint64_t va, RenderedValue* target,
                           uint32_t target_type, report::RenderedPointer* p) {
    std::string text;
    bool terminated = false;
    while (text.size() < kMaxPointedString && !terminated) {
      const uint64_t cur = va + text.size();
      const size_t chunk = std::min<uint64_t>(kPage - cur % kPage,
                                              kMaxPointedString - text.size());
      uint8_t buf[kPage];
      if (!Read(cur, absl::MakeSpan(buf, chunk)).ok()) {
        break;
      }
      for (size_t i = 0; i < chunk; ++i) {
        if (buf[i] == 0) {
          terminated = true;
          break;
        }
        text.push_back(static_cast<char>(buf[i]));
      }
    }
    if (text.empty() && !terminated) {
      target->Clear();
      p->clear_target();
      p->set_skip_reason("unreadable string");
      return;
    }
    ++nodes_;
    target->set_type_name(TypeNameOf(target_type));
    target->set_char_value(text);
    if (!terminated) p->set_skip_reason("string cut at read limit");
  }

  void RenderArray(const struct btf_type* t, absl::Span<const uint8_t> bytes,
                   int depth, RenderedValue* out) {
    const struct btf_array* a = btf_array(t);
    if (IsCharType(btf_, a->type)) {
      const size_t n = std::min<size_t>(a->nelems, bytes.size());
      out->set_char_value(TextUpToNul(bytes.subspan(0, n)));
      return;
    }
    auto* arr = out->mutable_array_value();
    arr->set_count(a->nelems);
    const absl::StatusOr<uint64_t> esz = SizeOf(a->type);
    if (!esz.ok() || *esz == 0) return;
    const uint64_t fit = bytes.size() / *esz;
    const uint64_t n = std::min<uint64_t>(
        {a->nelems, fit, static_cast<uint64_t>(opts_.max_array_elements)});
    for (uint64_t i = 0; i < n; ++i) {
      if (nodes_ >= opts_.max_total_nodes) break;
      Render(a->type, bytes.subspan(i * *esz, *esz), depth,
             arr->add_elements());
    }
  }

  void RenderComposite(const struct btf_type* t,
                       absl::Span<const uint8_t> bytes, int depth,
                       RenderedValue* out) {
    auto* s = out->mutable_struct_value();
    s->set_is_union(btf_is_union(t));
    const struct btf_member* m = btf_members(t);
    const uint32_t vlen = btf_vlen(t);
    for (uint32_t i = 0; i < vlen; ++i, ++m) {
      auto* rm = s->add_members();
      const char* name = btf__name_by_offset(btf_, m->name_off);
      rm->set_name(name ? name : "");
      const uint32_t bit_off = btf_member_bit_offset(t, i);
      const uint32_t bf = btf_member_bitfield_size(t, i);
      rm->set_bit_offset(bit_off);
      rm->set_bitfield_size(bf);
      RenderedValue* v = rm->mutable_value();
      if (nodes_ >= opts_.max_total_nodes) {
        v->set_type_name(TypeNameOf(m->type));
        v->mutable_truncated()->set_reason("render node cap reached");
        continue;
      }
      if (bf != 0) {
        v->set_type_name(TypeNameOf(m->type));
        ++nodes_;
        uint64_t raw = 0;
        if (!ExtractBits(bytes, bit_off, bf, &raw)) {
          Unsupported(v, "bitfield lies outside the available bytes", {});
          continue;
        }
        RenderScalarBits(PeelModifiers(btf_, m->type), raw, bf, v);
        continue;
      }
      const uint64_t byte_off = bit_off / 8;
      const absl::StatusOr<uint64_t> msz = SizeOf(m->type);
      uint64_t size = msz.ok() ? *msz : 0;
      if (byte_off > bytes.size()) {
        v->set_type_name(TypeNameOf(m->type));
        v->mutable_truncated()->set_reason(
            absl::StrFormat("member at byte %u is past the %u available bytes",
                            byte_off, bytes.size()));
        continue;
      }
      // Flexible array members (size 0) get whatever bytes follow.
      const absl::Span<const uint8_t> rest = bytes.subspan(byte_off);
      Render(m->type, size == 0 ? rest : rest.subspan(0, size), depth, v);
    }
  }

  void RenderDatasec(const struct btf_type* t, absl::Span<const uint8_t> bytes,
                     int depth, RenderedValue* out) {
    auto* s = out->mutable_struct_value();
    const struct btf_var_secinfo* vsi = btf_var_secinfos(t);
    const uint32_t vlen = btf_vlen(t);
    for (uint32_t i = 0; i < vlen; ++i, ++vsi) {
      const struct btf_type* var = btf__type_by_id(btf_, vsi->type);
      auto* rm = s->add_members();
      if (var == nullptr) continue;
      const char* name = btf__name_by_offset(btf_, var->name_off);
      rm->set_name(name ? name : "");
      rm->set_bit_offset(vsi->offset * 8);
      RenderedValue* v = rm->mutable_value();
      if (vsi->offset > bytes.size()) {
        v->mutable_truncated()->set_reason("variable past section bytes");
        continue;
      }
      const auto rest = bytes.subspan(vsi->offset);
      Render(vsi->type,
             rest.subspan(0, std::min<size_t>(vsi->size, rest.size())), depth,
             v);
    }
  }

  void RenderCpumask(const struct btf_type* t, absl::Span<const uint8_t> bytes,
                     RenderedValue* out) {
    const size_t n = std::min<size_t>(t->size, bytes.size());
    auto* cl = out->mutable_cpu_list();
    std::vector<uint32_t> cpus;
    for (size_t i = 0; i < n; ++i) {
      for (int b = 0; b < 8; ++b) {
        if ((bytes[i] >> b) & 1)
          cpus.push_back(static_cast<uint32_t>(i * 8 + b));
      }
    }
    for (uint32_t c : cpus) cl->add_cpus(c);
    cl->set_text(FormatCpuList(cpus));
  }

  const std::string& TypeNameOf(uint32_t type_id) {
    return cache_->Name(btf_, type_id);
  }
  // By value: a later insertion may rehash the map under a reference.
  absl::StatusOr<uint64_t> SizeOf(uint32_t type_id) {
    return cache_->Size(btf_, type_id);
  }

  const struct ::btf* btf_;
  const RenderOptions& opts_;
  RenderTypeCache* const cache_;
  size_t nodes_ = 0;
  int nesting_ = 0;
  // (va, type) of each pointee on the current path, for cycle detection.
  std::vector<std::pair<uint64_t, uint32_t>> path_;
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

std::string Hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) absl::StrAppendFormat(&out, "%02x", c);
  return out;
}

void Format(const RenderedValue& v, bool top, std::string* out) {
  switch (v.kind_case()) {
    case RenderedValue::kIntValue:
      absl::StrAppend(out, v.int_value());
      return;
    case RenderedValue::kUintValue:
      // Large unsigned values are mostly addresses, flags and magics.
      if (v.uint_value() < 4096) {
        absl::StrAppend(out, v.uint_value());
      } else {
        absl::StrAppendFormat(out, "0x%x", v.uint_value());
      }
      return;
    case RenderedValue::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case RenderedValue::kCharValue:
      out->append(Quote(v.char_value()));
      return;
    case RenderedValue::kFloatValue:
      absl::StrAppendFormat(out, "%g", v.float_value());
      return;
    case RenderedValue::kEnumValue:
      if (v.enum_value().variant().empty()) {
        absl::StrAppend(out, v.enum_value().value());
      } else {
        out->append(v.enum_value().variant());
      }
      return;
    case RenderedValue::kStructValue: {
      if (top) absl::StrAppend(out, v.type_name(), " ");
      out->append("{ ");
      bool first = true;
      for (const auto& m : v.struct_value().members()) {
        if (!first) out->append(", ");
        first = false;
        if (!m.name().empty()) absl::StrAppend(out, m.name(), " = ");
        Format(m.value(), false, out);
      }
      out->append(first ? "}" : " }");
      return;
    }
    case RenderedValue::kArrayValue: {
      const auto& a = v.array_value();
      out->append("[");
      for (int i = 0; i < a.elements_size(); ++i) {
        if (i) out->append(", ");
        Format(a.elements(i), false, out);
      }
      if (a.count() > static_cast<uint64_t>(a.elements_size())) {
        absl::StrAppendFormat(out, "%s... %u more",
                              a.elements_size() ? ", " : "",
                              a.count() - a.elements_size());
      }
      out->append("]");
      return;
    }
    case RenderedValue::kPointerValue: {
      const auto& p = v.pointer_value();
      if (p.address() == 0) {
        out->append("NULL");
        return;
      }
      absl::StrAppendFormat(out, "0x%x", p.address());
      if (p.has_target()) {
        out->append(" -> ");
        Format(p.target(), false, out);
      }
      if (!p.skip_reason().empty() && !p.has_target()) {
        absl::StrAppend(out, " (", p.skip_reason(), ")");
      }
      return;
    }
    case RenderedValue::kBytesValue:
      absl::StrAppend(out, "0x", Hex(v.bytes_value()));
      return;
    case RenderedValue::kTruncated:
      if (v.truncated().has_partial()) {
        Format(v.truncated().partial(), false, out);
        out->append(" ");
      }
      absl::StrAppend(out, "<truncated: ", v.truncated().reason(), ">");
      return;
    case RenderedValue::kUnsupported:
      absl::StrAppend(out, "<", v.unsupported().reason());
      if (!v.unsupported().raw().empty()) {
        absl::StrAppend(out, ": 0x", Hex(v.unsupported().raw()));
      }
      out->append(">");
      return;
    case RenderedValue::kCpuList:
      absl::StrAppend(out, "cpus{", v.cpu_list().text(), "}");
      return;
    case RenderedValue::KIND_NOT_SET:
      out->append("<empty>");
      return;
  }
}

}  // namespace

RenderedValue RenderValue(const struct ::btf* btf, uint32_t type_id,
                          absl::Span<const uint8_t> bytes,
                          const RenderOptions& opts) {
  RenderedValue out;
  RenderValueInto(btf, type_id, bytes, opts, &out);
  return out;
}

void RenderValueInto(const struct ::btf* btf, uint32_t type_id,
                     absl::Span<const uint8_t> bytes, const RenderOptions& opts,
                     RenderedValue* out) {
  ValueRenderer(btf, opts).RenderInto(type_id, bytes, out);
}

ValueRenderer::ValueRenderer(const struct ::btf* btf, const RenderOptions& opts)
    : btf_(btf), opts_(opts), cache_(std::make_unique<RenderTypeCache>()) {}

ValueRenderer::~ValueRenderer() = default;

void ValueRenderer::RenderInto(uint32_t type_id,
                               absl::Span<const uint8_t> bytes,
                               RenderedValue* out) {
  out->Clear();
  if (btf_ == nullptr) {
    out->mutable_unsupported()->set_reason("no BTF");
    return;
  }
  Renderer(btf_, opts_, cache_.get()).Render(type_id, bytes, 0, out);
}

std::string FormatRenderedValue(const RenderedValue& v) {
  std::string out;
  Format(v, true, &out);
  return out;
}

std::string FormatCpuList(absl::Span<const uint32_t> cpus) {
  std::string out;
  size_t i = 0;
  while (i < cpus.size()) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out.push_back(',');
    if (j == i) {
      absl::StrAppend(&out, cpus[i]);
    } else {
      absl::StrAppend(&out, cpus[i], "-", cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace ktvm::btf

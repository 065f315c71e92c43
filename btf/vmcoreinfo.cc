#include "btf/vmcoreinfo.h"

#include <charconv>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::btf {
namespace {

// The kernel's vmcoreinfo buffer is one page; a note claiming more lies.
constexpr uint32_t kMaxNoteText = 1 << 16;

bool ParseInt(std::string_view s, int base, int64_t* out) {
  bool neg = false;
  if (!s.empty() && s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (base == 16 && s.size() > 2 && s[0] == '0' &&
      (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
  }
  uint64_t v = 0;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return false;
  *out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

// "SYMBOL(name)" -> "name" when `key` has the given prefix.
bool Bracketed(std::string_view key, std::string_view prefix,
               std::string_view* inner) {
  if (key.size() < prefix.size() + 2 ||
      key.substr(0, prefix.size()) != prefix || key[prefix.size()] != '(' ||
      key.back() != ')') {
    return false;
  }
  *inner = key.substr(prefix.size() + 1, key.size() - prefix.size() - 2);
  return true;
}

uint32_t Le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

std::optional<uint64_t> Vmcoreinfo::Symbol(std::string_view name) const {
  auto it = symbols.find(name);
  if (it == symbols.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> Vmcoreinfo::KernelPageTableRoot() const {
  if (auto v = Symbol("init_top_pgt")) return v;
  return Symbol("swapper_pg_dir");
}

absl::StatusOr<Vmcoreinfo> ParseVmcoreinfo(std::string_view text) {
  Vmcoreinfo info;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return absl::DataLossError(absl::StrFormat(
          "VMCOREINFO line %u has no '=': \"%s\"", line_no, line));
    }
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    auto bad = [&]() {
      return absl::DataLossError(absl::StrFormat(
          "VMCOREINFO line %u: bad number in \"%s\"", line_no, line));
    };
    std::string_view inner;
    int64_t v = 0;
    if (key == "OSRELEASE") {
      info.osrelease = std::string(value);
    } else if (key == "PAGESIZE") {
      if (!ParseInt(value, 10, &v) || v <= 0) return bad();
      info.page_size = v;
    } else if (key == "KERNELOFFSET") {
      if (!ParseInt(value, 16, &v)) return bad();
      info.kernel_offset = v;
    } else if (Bracketed(key, "SYMBOL", &inner)) {
      if (!ParseInt(value, 16, &v)) return bad();
      info.symbols[std::string(inner)] = static_cast<uint64_t>(v);
    } else if (Bracketed(key, "OFFSET", &inner)) {
      if (!ParseInt(value, 10, &v)) return bad();
      info.offsets[std::string(inner)] = v;
    } else if (Bracketed(key, "SIZE", &inner)) {
      if (!ParseInt(value, 10, &v)) return bad();
      info.sizes[std::string(inner)] = v;
    } else if (Bracketed(key, "LENGTH", &inner)) {
      if (!ParseInt(value, 10, &v)) return bad();
      info.lengths[std::string(inner)] = v;
    } else if (Bracketed(key, "NUMBER", &inner)) {
      // Mostly decimal; a few (phys_base on some kernels) are printed in
      // hex with a 0x prefix.
      const bool hex = value.size() > 2 && value[0] == '0' &&
                       (value[1] == 'x' || value[1] == 'X');
      if (!ParseInt(value, hex ? 16 : 10, &v)) return bad();
      info.numbers[std::string(inner)] = v;
    } else {
      info.other[std::string(key)] = std::string(value);
    }
  }
  if (info.osrelease.empty()) {
    return absl::DataLossError("VMCOREINFO has no OSRELEASE");
  }
  if (info.page_size == 0) {
    return absl::DataLossError("VMCOREINFO has no PAGESIZE");
  }
  if (auto it = info.numbers.find("phys_base"); it != info.numbers.end()) {
    info.phys_base = static_cast<uint64_t>(it->second);
  }
  if (auto it = info.numbers.find("pgtable_l5_enabled");
      it != info.numbers.end()) {
    info.pgtable_l5_enabled = it->second != 0;
  }
  return info;
}

std::optional<size_t> FindVmcoreinfoNoteText(absl::Span<const uint8_t> region,
                                             size_t* text_len) {
  // Note layout: namesz(4)=11, descsz(4), type(4)=0, "VMCOREINFO\0" padded
  // to 12, then descsz bytes of text beginning "OSRELEASE=".
  static constexpr char kName[] = "VMCOREINFO";
  static constexpr char kText[] = "OSRELEASE=";
  const uint8_t* begin = region.data();
  const uint8_t* end = region.data() + region.size();
  const uint8_t* p = begin;
  while (true) {
    p = static_cast<const uint8_t*>(
        memmem(p, end - p, kName, sizeof(kName)));  // includes the NUL
    if (p == nullptr) return std::nullopt;
    const size_t name_off = p - begin;
    const size_t text_off = name_off + 12;
    if (name_off >= 12 && text_off + sizeof(kText) - 1 <= region.size() &&
        Le32(p - 12) == sizeof(kName) && Le32(p - 4) == 0 &&
        std::memcmp(begin + text_off, kText, sizeof(kText) - 1) == 0) {
      const uint32_t descsz = Le32(p - 8);
      if (descsz > 0 && descsz <= kMaxNoteText) {
        // The kernel's note carries the whole buffer; the text ends at the
        // first NUL.
        const size_t avail = std::min<size_t>(descsz, region.size() - text_off);
        const uint8_t* t = begin + text_off;
        const uint8_t* nul = static_cast<const uint8_t*>(memchr(t, 0, avail));
        *text_len = nul ? nul - t : avail;
        return text_off;
      }
    }
    p += 1;
  }
}

absl::StatusOr<Vmcoreinfo> FindVmcoreinfo(absl::Span<const uint8_t> region,
                                          uint64_t base_gpa) {
  size_t len = 0;
  // Several copies can exist (the note and stale copies); take the first
  // one that parses.
  size_t from = 0;
  absl::Status last = absl::NotFoundError(
      absl::StrFormat("no VMCOREINFO note in guest memory [0x%x, 0x%x)",
                      base_gpa, base_gpa + region.size()));
  while (from < region.size()) {
    std::optional<size_t> off =
        FindVmcoreinfoNoteText(region.subspan(from), &len);
    if (!off) break;
    const size_t abs = from + *off;
    absl::StatusOr<Vmcoreinfo> info = ParseVmcoreinfo(std::string_view(
        reinterpret_cast<const char*>(region.data() + abs), len));
    if (info.ok()) {
      info->found_at_gpa = base_gpa + abs;
      return info;
    }
    last = info.status();
    from = abs + 1;
  }
  return last;
}

}  // namespace ktvm::btf

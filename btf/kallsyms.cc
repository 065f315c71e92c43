#include "btf/kallsyms.h"

#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::btf {
namespace {

// Real kernels have ~100k-300k symbols; a count far beyond is a lie.
constexpr uint32_t kMaxSyms = 4'000'000;
constexpr uint64_t kMaxNamesBytes = 64ull << 20;
constexpr uint64_t kMaxTokenTableBytes = 256 * 1024;

uint16_t Le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t Le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

absl::Status ReadInto(const ReadVirtualFn& read, uint64_t va,
                      std::vector<uint8_t>* buf, const char* what) {
  absl::Status s = read(va, absl::MakeSpan(*buf));
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrFormat("reading %s at 0x%x (%u bytes): %s", what, va,
                                  buf->size(), s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

SymbolTable::SymbolTable(std::vector<KernelSymbol> symbols) {
  size_t total = 0;
  for (const KernelSymbol& s : symbols) total += s.name.size();
  names_.reserve(total);
  entries_.reserve(symbols.size());
  for (const KernelSymbol& s : symbols) {
    entries_.push_back(Entry{s.address, static_cast<uint32_t>(names_.size()),
                             static_cast<uint32_t>(s.name.size()), s.type});
    names_.append(s.name);
  }
  SortIfNeeded();
}

void SymbolTable::SortIfNeeded() {
  const auto by_address = [](const Entry& a, const Entry& b) {
    return a.address < b.address;
  };
  // kallsyms is already in address order; only other sources need sorting.
  if (!std::is_sorted(entries_.begin(), entries_.end(), by_address)) {
    std::stable_sort(entries_.begin(), entries_.end(), by_address);
  }
}

SymbolView SymbolTable::at(size_t i) const {
  const Entry& e = entries_[i];
  return SymbolView{NameOf(e), e.address, e.type};
}

const SymbolTable::NameIndex& SymbolTable::ByName() const {
  std::call_once(*index_once_, [this] {
    auto index = std::make_unique<NameIndex>();
    index->reserve(entries_.size());
    for (uint32_t i = 0; i < entries_.size(); ++i) {
      index->emplace(NameOf(entries_[i]), i);  // keeps the first
    }
    by_name_ = std::move(index);
  });
  return *by_name_;
}

std::optional<uint64_t> SymbolTable::Lookup(std::string_view name) const {
  const NameIndex& by_name = ByName();
  auto it = by_name.find(name);
  if (it == by_name.end()) return std::nullopt;
  return entries_[it->second].address;
}

std::optional<SymbolizedAddress> SymbolTable::Symbolize(
    uint64_t address) const {
  auto it = std::upper_bound(
      entries_.begin(), entries_.end(), address,
      [](uint64_t a, const Entry& e) { return a < e.address; });
  if (it == entries_.begin()) return std::nullopt;
  auto sym = std::prev(it);
  // Prefer the first of several symbols at the same address (aliases).
  while (sym != entries_.begin() && std::prev(sym)->address == sym->address) {
    --sym;
  }
  SymbolizedAddress r;
  r.name = NameOf(*sym);
  r.symbol_address = sym->address;
  r.offset = address - sym->address;
  r.size = it == entries_.end() ? 0 : it->address - sym->address;
  return r;
}

std::string SymbolTable::Format(uint64_t address) const {
  std::optional<SymbolizedAddress> s = Symbolize(address);
  if (!s) return absl::StrFormat("0x%x", address);
  if (s->size == 0) return absl::StrFormat("%s+0x%x", s->name, s->offset);
  return absl::StrFormat("%s+0x%x/0x%x", s->name, s->offset, s->size);
}

absl::StatusOr<KallsymsTables> KallsymsTablesFromVmcoreinfo(
    const Vmcoreinfo& info) {
  KallsymsTables t;
  struct Want {
    const char* name;
    uint64_t* dst;
  } wants[] = {{"kallsyms_num_syms", &t.num_syms},
               {"kallsyms_names", &t.names},
               {"kallsyms_token_table", &t.token_table},
               {"kallsyms_token_index", &t.token_index},
               {"kallsyms_offsets", &t.offsets}};
  for (const Want& w : wants) {
    std::optional<uint64_t> v = info.Symbol(w.name);
    if (!v) {
      return absl::NotFoundError(
          absl::StrFormat("VMCOREINFO has no SYMBOL(%s)", w.name));
    }
    *w.dst = *v;
  }
  t.relative_base = info.Symbol("kallsyms_relative_base");
  return t;
}

absl::StatusOr<SymbolTable> DecodeKallsyms(const ReadVirtualFn& read,
                                           const KallsymsTables& t) {
  std::vector<uint8_t> buf(4);
  if (absl::Status s = ReadInto(read, t.num_syms, &buf, "kallsyms_num_syms");
      !s.ok()) {
    return s;
  }
  const uint32_t n = Le32(buf.data());
  if (n == 0 || n > kMaxSyms) {
    return absl::DataLossError(absl::StrFormat(
        "kallsyms_num_syms = %u is implausible (limit %u)", n, kMaxSyms));
  }
  // The kernel lays the tables out in this order (scripts/kallsyms.c):
  // names, markers, token_table, token_index, offsets.
  if (!(t.names < t.token_table && t.token_table < t.token_index)) {
    return absl::DataLossError(absl::StrFormat(
        "kallsyms tables out of order: names 0x%x, token_table 0x%x, "
        "token_index 0x%x",
        t.names, t.token_table, t.token_index));
  }
  const uint64_t names_span = t.token_table - t.names;
  const uint64_t token_span = t.token_index - t.token_table;
  if (names_span > kMaxNamesBytes || token_span > kMaxTokenTableBytes) {
    return absl::DataLossError(absl::StrFormat(
        "kallsyms tables implausibly large: names %u bytes, tokens %u bytes",
        names_span, token_span));
  }
  std::vector<uint8_t> names(names_span), tokens(token_span), index(512),
      offsets(uint64_t{n} * 4);
  if (absl::Status s = ReadInto(read, t.names, &names, "kallsyms_names");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadInto(read, t.token_table, &tokens, "kallsyms_token_table");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadInto(read, t.token_index, &index, "kallsyms_token_index");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadInto(read, t.offsets, &offsets, "kallsyms_offsets");
      !s.ok()) {
    return s;
  }
  uint64_t relative_base = 0;
  if (t.relative_base) {
    std::vector<uint8_t> rb(8);
    if (absl::Status s =
            ReadInto(read, *t.relative_base, &rb, "kallsyms_relative_base");
        !s.ok()) {
      return s;
    }
    std::memcpy(&relative_base, rb.data(), 8);
  }

  // Expand the 256 tokens once.
  std::string_view token_str[256];
  for (int i = 0; i < 256; ++i) {
    const uint16_t off = Le16(&index[2 * i]);
    if (off >= tokens.size()) {
      return absl::DataLossError(absl::StrFormat(
          "kallsyms_token_index[%d] = %u is past the %u-byte token table", i,
          off, tokens.size()));
    }
    const char* start = reinterpret_cast<const char*>(tokens.data()) + off;
    const void* nul = std::memchr(start, 0, tokens.size() - off);
    if (nul == nullptr) {
      return absl::DataLossError(
          absl::StrFormat("kallsyms token %d is not NUL-terminated", i));
    }
    token_str[i] =
        std::string_view(start, static_cast<const char*>(nul) - start);
  }

  SymbolTable table;
  table.entries_.resize(n);
  // Expanded names run about 2-3x the compressed stream.
  table.names_.reserve(names.size() * 3);
  size_t pos = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (pos >= names.size()) {
      return absl::DataLossError(
          absl::StrFormat("kallsyms_names ends at symbol %u of %u", i, n));
    }
    uint32_t len = names[pos++];
    if (len & 0x80) {  // two-byte ULEB128 length
      if (pos >= names.size()) {
        return absl::DataLossError("kallsyms_names: truncated length");
      }
      len = (len & 0x7f) | (uint32_t{names[pos++]} << 7);
    }
    if (len == 0 || len > names.size() - pos) {
      return absl::DataLossError(absl::StrFormat(
          "kallsyms_names: symbol %u has bad length %u at byte %u", i, len,
          pos));
    }
    SymbolTable::Entry& e = table.entries_[i];
    e.type = '?';
    // The first expanded character is the type letter.
    const std::string_view first = token_str[names[pos]];
    const size_t start = table.names_.size();
    if (!first.empty()) {
      e.type = first[0];
      table.names_.append(first.substr(1));
    }
    for (uint32_t k = 1; k < len; ++k) {
      table.names_.append(token_str[names[pos + k]]);
    }
    pos += len;
    e.name_offset = static_cast<uint32_t>(start);
    e.name_length = static_cast<uint32_t>(table.names_.size() - start);
    const int32_t rel = static_cast<int32_t>(Le32(&offsets[4 * i]));
    if (t.relative_base) {
      // Negative entries were absolute per-CPU values in that scheme.
      e.address = rel >= 0 ? relative_base + static_cast<uint32_t>(rel)
                           : relative_base - 1 - rel;
    } else {
      e.address = t.offsets + 4 * uint64_t{i} + static_cast<int64_t>(rel);
    }
  }
  table.SortIfNeeded();
  return table;
}

absl::StatusOr<SymbolTable> ParseSystemMap(std::string_view text) {
  std::vector<KernelSymbol> syms;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const size_t sp1 = line.find(' ');
    const size_t sp2 =
        sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    uint64_t addr = 0;
    const auto [end, ec] = std::from_chars(
        line.data(), line.data() + std::min(sp1, line.size()), addr, 16);
    if (sp2 == std::string_view::npos || sp2 != sp1 + 2 || ec != std::errc() ||
        end != line.data() + sp1 || sp2 + 1 >= line.size()) {
      return absl::DataLossError(absl::StrFormat(
          "System.map line %u is not \"ADDRESS TYPE NAME\": \"%s\"", line_no,
          line));
    }
    KernelSymbol s;
    s.address = addr;
    s.type = line[sp1 + 1];
    // Module symbols carry a "\t[module]" suffix in /proc/kallsyms.
    std::string_view name = line.substr(sp2 + 1);
    name = name.substr(0, name.find('\t'));
    s.name = std::string(name);
    syms.push_back(std::move(s));
  }
  if (syms.empty()) return absl::DataLossError("System.map has no symbols");
  return SymbolTable(std::move(syms));
}

absl::StatusOr<SymbolTable> SymbolsFromElfSymtab(
    absl::Span<const uint8_t> image) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError("libelf version mismatch");
  }
  Elf* elf =
      elf_memory(reinterpret_cast<char*>(const_cast<uint8_t*>(image.data())),
                 image.size());
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    if (elf) elf_end(elf);
    return absl::InvalidArgumentError("not an ELF image");
  }
  std::vector<KernelSymbol> syms;
  bool found = false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr;
       scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_SYMTAB) continue;
    found = true;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || sh.sh_entsize == 0) break;
    const size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, i, &sym) == nullptr) continue;
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (name == nullptr || name[0] == '\0' ||
          GELF_ST_TYPE(sym.st_info) == STT_SECTION ||
          GELF_ST_TYPE(sym.st_info) == STT_FILE) {
        continue;
      }
      KernelSymbol s;
      s.name = name;
      s.address = sym.st_value;
      const bool global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
      const char t = GELF_ST_TYPE(sym.st_info) == STT_FUNC ? 't' : 'd';
      s.type = global ? static_cast<char>(t - 32) : t;
      syms.push_back(std::move(s));
    }
    break;
  }
  elf_end(elf);
  if (!found) return absl::NotFoundError("ELF has no .symtab");
  return SymbolTable(std::move(syms));
}

absl::StatusOr<int64_t> KaslrSlideFromLstar(uint64_t lstar,
                                            uint64_t link_time_entry_syscall_64,
                                            const SymbolTable* runtime) {
  if (lstar == 0) return absl::InvalidArgumentError("MSR_LSTAR is 0");
  const int64_t slide =
      static_cast<int64_t>(lstar - link_time_entry_syscall_64);
  if (runtime != nullptr) {
    std::optional<SymbolizedAddress> s = runtime->Symbolize(lstar);
    if (!s || s->name != "entry_SYSCALL_64" || s->offset != 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("MSR_LSTAR 0x%x resolves to %s, not entry_SYSCALL_64",
                          lstar, runtime->Format(lstar)));
    }
  }
  return slide;
}

}  // namespace ktvm::btf

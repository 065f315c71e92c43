#include "vmm/dump/bpf_symbols.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/dump/map_idr.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::Diagnostic;

// The kernel's KSYM_NAME_LEN.
constexpr size_t kMaxSymbolName = 512;
// BPF_OBJ_NAME_LEN.
constexpr size_t kProgramNameLen = 16;
// JIT images are at most a few MiB (1 M instructions); larger is garbage.
constexpr uint64_t kMaxSymbolBytes = 64ULL << 20;
// Kernel addresses: the upper half of a 57-bit (5-level) address space,
// which also covers 4-level kernels' 0xffff8... half.
constexpr uint64_t kKernelHalf = 0xff00000000000000ULL;
// "bpf_prog_" + 16 hex digits of the tag + "_".
constexpr absl::string_view kProgPrefix = "bpf_prog_";
constexpr size_t kTagHexDigits = 16;

// Every offset comes from the guest kernel's BTF. The ksym and tag members
// are optional: older kernels lack aux->ksym, and the code then falls back
// to bpf_func + jited_len.
struct Offsets {
  uint64_t prog_bpf_func, prog_jited_len, prog_aux;
  std::optional<uint64_t> prog_tag;
  uint64_t aux_id, aux_name;
  std::optional<uint64_t> aux_func, aux_func_cnt;
  std::optional<uint64_t> aux_ksym;
  // Within struct bpf_ksym.
  std::optional<uint64_t> ksym_start, ksym_end, ksym_name, ksym_lnode,
      ksym_prog;
  uint64_t list_next;
};

absl::StatusOr<Offsets> ResolveOffsets(const GuestKernel& k) {
  Offsets o{};
  if (absl::Status s = k.ResolveOffsets({
          {&o.prog_bpf_func, "bpf_prog", "bpf_func"},
          {&o.prog_jited_len, "bpf_prog", "jited_len"},
          {&o.prog_aux, "bpf_prog", "aux"},
          {&o.aux_id, "bpf_prog_aux", "id"},
          {&o.aux_name, "bpf_prog_aux", "name"},
          {&o.list_next, "list_head", "next"},
      });
      !s.ok()) {
    return s;
  }
  k.ResolveOptionalOffsets({
      {&o.prog_tag, "bpf_prog", "tag"},
      {&o.aux_func, "bpf_prog_aux", "func"},
      {&o.aux_func_cnt, "bpf_prog_aux", "func_cnt"},
      {&o.aux_ksym, "bpf_prog_aux", "ksym"},
      {&o.ksym_start, "bpf_ksym", "start"},
      {&o.ksym_end, "bpf_ksym", "end"},
      {&o.ksym_name, "bpf_ksym", "name"},
      {&o.ksym_lnode, "bpf_ksym", "lnode"},
      {&o.ksym_prog, "bpf_ksym", "prog"},
  });
  return o;
}

bool HasKsym(const Offsets& o) {
  return o.aux_ksym && o.ksym_start && o.ksym_end && o.ksym_name;
}

bool PlausibleRange(uint64_t start, uint64_t end) {
  return start >= kKernelHalf && end > start && end - start <= kMaxSymbolBytes;
}

bool PlausibleName(absl::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > ' ' && c < 0x7f; });
}

// "bpf_prog_<16 hex>_<function>" -> "<function>"; empty otherwise.
absl::string_view FunctionOf(absl::string_view ksym_name) {
  if (!absl::StartsWith(ksym_name, kProgPrefix)) return {};
  const size_t underscore = kProgPrefix.size() + kTagHexDigits;
  if (ksym_name.size() <= underscore + 1 || ksym_name[underscore] != '_') {
    return {};
  }
  return ksym_name.substr(underscore + 1);
}

class SymbolReader {
 public:
  SymbolReader(const GuestKernel& k, const Offsets& o,
               const BpfSymbolLimits& limits)
      : k_(k), o_(o), limits_(limits) {}

  // A program from prog_idr and its subprograms.
  absl::Status AddProgram(uint64_t prog) {
    absl::StatusOr<uint64_t> aux = k_.ReadU64(prog + o_.prog_aux);
    if (!aux.ok()) return aux.status();
    if (*aux < kKernelHalf) {
      return absl::DataLossError(absl::StrFormat(
          "bpf_prog 0x%x: aux 0x%x is not a kernel address", prog, *aux));
    }
    absl::StatusOr<uint32_t> id = k_.ReadU32(*aux + o_.aux_id);
    if (!id.ok()) return id.status();
    absl::StatusOr<BpfSymbol> main = SymbolOf(prog, *aux);
    if (!main.ok()) return main.status();
    main->prog_id = *id;
    const std::string main_program = main->program;
    if (main->end != 0) out_.push_back(*std::move(main));
    return AddSubprograms(*aux, *id, main_program);
  }

  // bpf_kallsyms: every BPF symbol the kernel's kallsyms shows, including
  // trampolines, which are in no IDR.
  void AddKallsymsList(std::vector<Diagnostic>& diagnostics) {
    if (!HasKsym(o_) || !o_.ksym_lnode) return;
    absl::StatusOr<uint64_t> head = k_.Symbol("bpf_kallsyms");
    if (!head.ok()) {
      diagnostics.push_back(
          Info("bpf_kallsyms is not in kallsyms: trampolines stay unnamed"));
      return;
    }
    absl::StatusOr<uint64_t> node = k_.ReadU64(*head + o_.list_next);
    size_t visited = 0;
    for (; node.ok() && *node != *head;
         node = k_.ReadU64(*node + o_.list_next)) {
      if (++visited > limits_.max_kallsyms) {
        diagnostics.push_back(Warning(absl::StrFormat(
            "bpf_kallsyms did not return to its head within %d nodes "
            "(a cycle or a torn list); later symbols are missing",
            limits_.max_kallsyms)));
        return;
      }
      absl::StatusOr<BpfSymbol> sym = KsymAt(*node - *o_.ksym_lnode);
      if (!sym.ok()) {
        diagnostics.push_back(Warning(
            absl::StrFormat("bpf_kallsyms node 0x%x: %s; the walk stops there",
                            *node, sym.status().message())));
        return;
      }
      if (sym->end != 0) out_.push_back(*std::move(sym));
    }
    if (!node.ok()) {
      diagnostics.push_back(Warning(absl::StrFormat(
          "bpf_kallsyms: %s; the walk stops there", node.status().message())));
    }
  }

  std::vector<BpfSymbol> Take() { return std::move(out_); }

 private:
  static Diagnostic Make(std::string reason, Diagnostic::Severity severity) {
    Diagnostic d;
    d.set_subject("bpf_symbols");
    d.set_reason(std::move(reason));
    d.set_severity(severity);
    return d;
  }
  static Diagnostic Info(std::string reason) {
    return Make(std::move(reason), Diagnostic::SEVERITY_INFO);
  }
  static Diagnostic Warning(std::string reason) {
    return Make(std::move(reason), Diagnostic::SEVERITY_WARNING);
  }

  absl::Status AddSubprograms(uint64_t aux, uint32_t id,
                              const std::string& main_program) {
    if (!o_.aux_func || !o_.aux_func_cnt) return absl::OkStatus();
    absl::StatusOr<uint32_t> count = k_.ReadU32(aux + *o_.aux_func_cnt);
    absl::StatusOr<uint64_t> funcs = k_.ReadU64(aux + *o_.aux_func);
    if (!count.ok()) return count.status();
    if (!funcs.ok()) return funcs.status();
    if (*count == 0 || *funcs == 0) return absl::OkStatus();
    if (*count > limits_.max_subprograms) {
      return absl::DataLossError(
          absl::StrFormat("program %d (%s): func_cnt %d is above the cap of %d",
                          id, main_program, *count, limits_.max_subprograms));
    }
    for (uint32_t i = 0; i < *count; ++i) {
      absl::StatusOr<uint64_t> sub = k_.ReadU64(*funcs + 8 * i);
      if (!sub.ok()) return sub.status();
      absl::StatusOr<uint64_t> sub_aux = k_.ReadU64(*sub + o_.prog_aux);
      if (!sub_aux.ok()) return sub_aux.status();
      absl::StatusOr<BpfSymbol> sym = SymbolOf(*sub, *sub_aux);
      if (!sym.ok()) {
        return absl::DataLossError(
            absl::StrFormat("program %d (%s) subprogram %d: %s", id,
                            main_program, i, sym.status().message()));
      }
      sym->prog_id = id;
      if (sym->end != 0) out_.push_back(*std::move(sym));
    }
    return absl::OkStatus();
  }

  // The symbol of one (sub)program; end == 0 when it has no JIT image
  // (interpreted), which is not an error.
  absl::StatusOr<BpfSymbol> SymbolOf(uint64_t prog, uint64_t aux) {
    absl::StatusOr<std::string> aux_name =
        k_.ReadCString(aux + o_.aux_name, kProgramNameLen);
    if (HasKsym(o_)) {
      absl::StatusOr<BpfSymbol> sym = KsymAt(aux + *o_.aux_ksym);
      // A program not (yet) in kallsyms has an empty ksym: fall through.
      if (!sym.ok()) return sym.status();
      if (sym->end != 0) {
        if (sym->program.empty() && aux_name.ok()) sym->program = *aux_name;
        return sym;
      }
    }
    absl::StatusOr<uint64_t> func = k_.ReadU64(prog + o_.prog_bpf_func);
    absl::StatusOr<uint32_t> len = k_.ReadU32(prog + o_.prog_jited_len);
    if (!func.ok()) return func.status();
    if (!len.ok()) return len.status();
    BpfSymbol sym;
    if (*len == 0) return sym;
    if (!PlausibleRange(*func, *func + *len)) {
      return absl::DataLossError(absl::StrFormat(
          "bpf_func 0x%x + jited_len %d is not a code range", *func, *len));
    }
    sym.start = *func;
    sym.end = *func + *len;
    std::string tag;
    if (o_.prog_tag) {
      std::string raw(8, '\0');
      if (absl::Status s = k_.memory().ReadVirtual(
              prog + *o_.prog_tag,
              absl::MakeSpan(reinterpret_cast<uint8_t*>(raw.data()),
                             raw.size()));
          s.ok()) {
        tag = absl::BytesToHexString(raw);
      }
    }
    sym.program = aux_name.ok() ? *aux_name : "";
    sym.name = absl::StrCat(kProgPrefix, tag);
    if (!sym.program.empty()) absl::StrAppend(&sym.name, "_", sym.program);
    return sym;
  }

  // struct bpf_ksym at `ksym`: an all-zero one (not in kallsyms) gives
  // end == 0; anything else must be a plausible code range and name.
  absl::StatusOr<BpfSymbol> KsymAt(uint64_t ksym) {
    absl::StatusOr<uint64_t> start = k_.ReadU64(ksym + *o_.ksym_start);
    absl::StatusOr<uint64_t> end = k_.ReadU64(ksym + *o_.ksym_end);
    if (!start.ok()) return start.status();
    if (!end.ok()) return end.status();
    BpfSymbol sym;
    if (*start == 0 && *end == 0) return sym;
    if (!PlausibleRange(*start, *end)) {
      return absl::DataLossError(
          absl::StrFormat("bpf_ksym 0x%x: [0x%x, 0x%x) is not a code range",
                          ksym, *start, *end));
    }
    absl::StatusOr<std::string> name =
        k_.ReadCString(ksym + *o_.ksym_name, kMaxSymbolName);
    if (!name.ok()) return name.status();
    if (!PlausibleName(*name)) {
      return absl::DataLossError(
          absl::StrFormat("bpf_ksym 0x%x: name is empty or not text", ksym));
    }
    sym.start = *start;
    sym.end = *end;
    sym.name = *std::move(name);
    sym.program = std::string(FunctionOf(sym.name));
    return sym;
  }

  const GuestKernel& k_;
  const Offsets& o_;
  const BpfSymbolLimits& limits_;
  std::vector<BpfSymbol> out_;
};

}  // namespace

BpfSymbols::BpfSymbols(std::vector<BpfSymbol> symbols) {
  std::stable_sort(
      symbols.begin(), symbols.end(),
      [](const BpfSymbol& a, const BpfSymbol& b) { return a.start < b.start; });
  for (BpfSymbol& s : symbols) {
    if (!symbols_.empty() && symbols_.back().start == s.start) continue;
    symbols_.push_back(std::move(s));
  }
}

const BpfSymbol* BpfSymbols::Find(uint64_t address) const {
  auto it = std::upper_bound(
      symbols_.begin(), symbols_.end(), address,
      [](uint64_t a, const BpfSymbol& s) { return a < s.start; });
  if (it == symbols_.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

absl::StatusOr<BpfSymbols> ReadBpfSymbols(
    const GuestKernel& kernel, const BpfSymbolLimits& limits,
    std::vector<Diagnostic>& diagnostics) {
  absl::StatusOr<Offsets> offsets = ResolveOffsets(kernel);
  if (!offsets.ok()) return offsets.status();
  uint32_t skipped = 0;
  absl::StatusOr<std::vector<uint64_t>> progs =
      ListBpfPrograms(kernel, limits.max_programs, &skipped);
  if (!progs.ok()) return progs.status();
  SymbolReader reader(kernel, *offsets, limits);
  size_t unreadable = 0;
  std::string first_problem;
  for (uint64_t prog : *progs) {
    if (absl::Status s = reader.AddProgram(prog); !s.ok()) {
      if (unreadable++ == 0) first_problem = std::string(s.message());
    }
  }
  if (skipped != 0 || unreadable != 0) {
    Diagnostic d;
    d.set_subject("bpf_symbols");
    d.set_severity(Diagnostic::SEVERITY_WARNING);
    d.set_reason(absl::StrFormat(
        "%d prog_idr nodes skipped, %d of %d programs unreadable%s%s; their "
        "frames stay hex",
        skipped, unreadable, progs->size(),
        first_problem.empty() ? "" : ", first: ", first_problem));
    diagnostics.push_back(std::move(d));
  }
  reader.AddKallsymsList(diagnostics);
  return BpfSymbols(reader.Take());
}

int SymbolizeBpfFrames(
    const BpfSymbols& symbols,
    google::protobuf::RepeatedPtrField<ktvm::report::BacktraceFrame>& frames) {
  int named = 0;
  for (ktvm::report::BacktraceFrame& f : frames) {
    const BpfSymbol* s = symbols.Find(f.address());
    if (s == nullptr) continue;
    f.set_symbol(s->name);
    f.set_offset(f.address() - s->start);
    f.set_symbol_size(s->end - s->start);
    f.set_module("bpf");
    f.set_bpf_program(s->program);
    f.set_bpf_prog_id(s->prog_id);
    ++named;
  }
  return named;
}

std::string FormatBpfAddress(const BpfSymbols& symbols, uint64_t address) {
  const BpfSymbol* s = symbols.Find(address);
  if (s == nullptr) return "";
  return absl::StrFormat("%s+0x%x/0x%x [bpf]", s->name, address - s->start,
                         s->end - s->start);
}

}  // namespace ktvm::dump

// Symbols for JIT-compiled BPF code, the way the kernel's own kallsyms
// shows them (bpf_prog_<tag>_<name>, bpf__sched_ext_ops_enqueue, ...): the
// core kallsyms table in guest memory does not cover BPF programs, which
// live in the module/execmem area and come and go at run time.
//
// Sources, both bounded: every program in prog_idr with its subprograms
// (prog->aux->func[]), from each program's aux->ksym (start, end, name as
// the kernel computed them) or, on kernels without it, bpf_func + jited_len
// and "bpf_prog_<tag>_<aux->name>"; then the kernel's bpf_kallsyms list,
// which also holds struct_ops and fentry trampolines and dispatchers.
#ifndef KTVM_VMM_DUMP_BPF_SYMBOLS_H_
#define KTVM_VMM_DUMP_BPF_SYMBOLS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

struct BpfSymbol {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  // The kallsyms name, e.g. "bpf_prog_6deef7357e7b4530_ktvm_enqueue".
  std::string name;
  // The program's function name ("ktvm_enqueue"); empty for trampolines.
  std::string program;
  // prog_idr id of the (main) program; 0 when found only in bpf_kallsyms.
  uint32_t prog_id = 0;
};

// Address -> symbol over non-overlapping ranges.
class BpfSymbols {
 public:
  BpfSymbols() = default;
  // Sorts; of symbols starting at the same address the first one given is
  // kept (prog_idr entries come first: they carry the program id).
  explicit BpfSymbols(std::vector<BpfSymbol> symbols);

  // The symbol whose [start, end) holds `address`, or null.
  const BpfSymbol* Find(uint64_t address) const;
  size_t size() const { return symbols_.size(); }
  const std::vector<BpfSymbol>& symbols() const { return symbols_; }

 private:
  std::vector<BpfSymbol> symbols_;
};

struct BpfSymbolLimits {
  size_t max_programs = 1024;
  // Subprograms per program (the verifier allows 256).
  size_t max_subprograms = 256;
  // bpf_kallsyms list nodes walked at most.
  size_t max_kallsyms = 8192;
};

// Reads every BPF symbol. Fails only when prog_idr itself is unusable;
// torn programs and a broken bpf_kallsyms list become diagnostics.
absl::StatusOr<BpfSymbols> ReadBpfSymbols(
    const GuestKernel& kernel, const BpfSymbolLimits& limits,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

// Names every frame that lies in BPF code: symbol, offset, symbol_size,
// module "bpf", bpf_program and bpf_prog_id. Returns how many were named.
int SymbolizeBpfFrames(
    const BpfSymbols& symbols,
    google::protobuf::RepeatedPtrField<ktvm::report::BacktraceFrame>& frames);

// "bpf_prog_..._ktvm_enqueue+0x37/0x8a [bpf]", or empty when no BPF symbol
// covers `address`.
std::string FormatBpfAddress(const BpfSymbols& symbols, uint64_t address);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_BPF_SYMBOLS_H_

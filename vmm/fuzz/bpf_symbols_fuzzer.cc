// BPF program symbolisation over torn guest memory: the input is guest
// memory (fuzz_guest.h) holding prog_idr, bpf_prog/bpf_prog_aux with their
// ksym, func[] subprograms, bpf_func/jited_len/tag, and the bpf_kallsyms
// list (trampolines). Every pointer chase is bounded by the limits; every
// symbol kept is a plausible code range that Find() returns for its own
// start (ranges from torn memory may overlap, so only the start is
// certain); frames taken from the input symbolise without a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/dump/bpf_symbols.h"
#include "vmm/fuzz/fuzz_guest.h"

namespace {

using ktvm::dump::BpfSymbol;
using ktvm::dump::BpfSymbols;

// Small limits: the walk must honour them exactly, and small keeps the
// fuzzer fast.
constexpr ktvm::dump::BpfSymbolLimits kLimits = {
    .max_programs = 16, .max_subprograms = 8, .max_kallsyms = 64};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ktvm::dump::fuzz::InitSharedFuzzGuest((*argv)[0]);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ktvm::dump::GuestKernel& k =
      ktvm::dump::fuzz::SharedFuzzGuest().Load(absl::MakeConstSpan(data, size));
  std::vector<ktvm::report::Diagnostic> diagnostics;
  const absl::StatusOr<BpfSymbols> symbols =
      ktvm::dump::ReadBpfSymbols(k, kLimits, diagnostics);
  if (!symbols.ok()) return 0;
  if (symbols->size() > kLimits.max_programs * (1 + kLimits.max_subprograms) +
                            kLimits.max_kallsyms) {
    __builtin_trap();
  }
  // One for prog_idr, one for bpf_kallsyms at most.
  if (diagnostics.size() > 2) __builtin_trap();
  for (const BpfSymbol& s : symbols->symbols()) {
    if (s.end <= s.start || s.start < 0xff00000000000000ull) __builtin_trap();
    if (symbols->Find(s.start) != &s) __builtin_trap();
  }
  // Frames as a backtrace would give them: words of the input, and the
  // symbols' own edges.
  google::protobuf::RepeatedPtrField<ktvm::report::BacktraceFrame> frames;
  for (size_t i = 0; i + 8 <= size && frames.size() < 64; i += 8) {
    uint64_t address;
    std::memcpy(&address, data + i, 8);
    if (address >= 0xff00000000000000ull) frames.Add()->set_address(address);
  }
  for (const BpfSymbol& s : symbols->symbols()) {
    frames.Add()->set_address(s.start);
    frames.Add()->set_address(s.end);
  }
  const int named = ktvm::dump::SymbolizeBpfFrames(*symbols, frames);
  if (named < static_cast<int>(symbols->size()) || named > frames.size()) {
    __builtin_trap();
  }
  for (const auto& f : frames) {
    (void)ktvm::dump::FormatBpfAddress(*symbols, f.address());
  }
  return 0;
}

#include "vmm/dump/scheduler_arena.h"

#include "absl/strings/str_format.h"
#include "sdt/sdt_walker.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::Diagnostic;

// Arena pages copied into one report at most: enough for the demo's and
// typical schedulers' live data, small enough to write in milliseconds.
constexpr uint64_t kMaxArenaBytes = 16ULL << 20;

Diagnostic Problem(std::string subject, const absl::Status& status,
                   Diagnostic::Severity severity) {
  Diagnostic d;
  d.set_subject(std::move(subject));
  d.set_reason(std::string(status.message()));
  d.set_severity(severity);
  return d;
}

}  // namespace

std::vector<sdt::ArenaWindow> SnapshotArenas(
    const GuestKernel& kernel, std::vector<ktvm::report::BpfMap>& maps,
    std::vector<Diagnostic>& diagnostics) {
  std::vector<sdt::ArenaWindow> windows;
  for (ktvm::report::BpfMap& map : maps) {
    if (map.type() != ktvm::report::BPF_MAP_TYPE_ARENA) continue;
    const std::string subject =
        absl::StrFormat("bpf_maps[%s].arena", map.name());
    absl::StatusOr<sdt::ArenaWindow> window = sdt::ArenaWindowFromMap(
        kernel.memory(), kernel.btf(), map.kernel_address());
    if (window.ok()) {
      if (absl::Status s = sdt::ValidateArenaWindow(*window); !s.ok()) {
        window = s;
      }
    }
    if (!window.ok()) {
      diagnostics.push_back(
          Problem(subject, window.status(), Diagnostic::SEVERITY_ERROR));
      continue;
    }
    windows.push_back(*window);
    sdt::ArenaSnapshotOptions options;
    options.max_captured_bytes = kMaxArenaBytes;
    absl::StatusOr<ktvm::report::ArenaSnapshot> snapshot = sdt::SnapshotArena(
        kernel.physical(), kernel.translator(), *window, options);
    if (!snapshot.ok()) {
      diagnostics.push_back(
          Problem(subject, snapshot.status(), Diagnostic::SEVERITY_ERROR));
      continue;
    }
    *map.mutable_arena() = *std::move(snapshot);
    map.clear_note();
  }
  return windows;
}

void WalkSdtAllocators(
    const GuestKernel& kernel, const std::vector<ProgramGlobals>& programs,
    const std::vector<sdt::ArenaWindow>& arenas,
    google::protobuf::RepeatedPtrField<ktvm::report::SdtAllocatorSnapshot>& out,
    std::vector<Diagnostic>& diagnostics) {
  for (const ProgramGlobals& program : programs) {
    std::vector<sdt::SectionImage> sections;
    for (const auto& [name, bytes] : program.sections) {
      sections.push_back({name, absl::MakeConstSpan(bytes)});
    }
    if (arenas.empty()) {
      diagnostics.push_back(Problem(
          "sdt_allocators",
          absl::NotFoundError("no readable ARENA map to walk allocators in"),
          Diagnostic::SEVERITY_INFO));
      return;
    }
    sdt::SdtWalkContext ctx;
    ctx.kernel_memory = &kernel.memory();
    // A scheduler has one arena (the kernel allows one per program).
    ctx.arena = arenas.front();
    ctx.program_btf = program.btf.get();
    absl::Status walked = sdt::WalkProgramAllocatorsInto(ctx, sections, &out);
    // Most programs simply have no sdt_alloc: that is not a problem.
    if (!walked.ok() && !absl::IsNotFound(walked)) {
      diagnostics.push_back(
          Problem("sdt_allocators", walked, Diagnostic::SEVERITY_WARNING));
    }
  }
}

}  // namespace ktvm::dump

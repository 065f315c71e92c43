// The scheduler's arena-backed state: a page snapshot of every ARENA map
// and every sdt_alloc allocator found in the programs' global data
// (sdt/ does the reading; this file connects it to the maps found through
// map_idr).
#ifndef KTVM_VMM_DUMP_SCHEDULER_ARENA_H_
#define KTVM_VMM_DUMP_SCHEDULER_ARENA_H_

#include <vector>

#include "proto/failure_dump.pb.h"
#include "sdt/arena.h"
#include "vmm/dump/bpf_maps.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

// Fills `arena` of every ARENA map in `maps`; returns their windows (the
// sdt walk reads through them). Problems become diagnostics.
std::vector<sdt::ArenaWindow> SnapshotArenas(
    const GuestKernel& kernel, std::vector<ktvm::report::BpfMap>& maps,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

// Every struct scx_allocator variable in the programs' .bss/.data, walked
// through the arena window straight into `out` (the report's field, so on a
// report that lives on a protobuf arena the thousands of entry messages are
// arena-allocated). A program without sdt_alloc gives nothing.
void WalkSdtAllocators(
    const GuestKernel& kernel, const std::vector<ProgramGlobals>& programs,
    const std::vector<sdt::ArenaWindow>& arenas,
    google::protobuf::RepeatedPtrField<ktvm::report::SdtAllocatorSnapshot>& out,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_SCHEDULER_ARENA_H_

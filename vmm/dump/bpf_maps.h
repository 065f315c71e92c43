// The BPF maps in the guest, rendered for the report: metadata for every
// map in map_idr; values of ARRAY maps (global-data maps .bss/.data/.rodata
// through the DATASEC of the program's BTF), PERCPU_ARRAY (one value per
// CPU) and HASH/LRU_HASH (bucket chains). Other types keep metadata only,
// with a note.
#ifndef KTVM_VMM_DUMP_BPF_MAPS_H_
#define KTVM_VMM_DUMP_BPF_MAPS_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

struct BpfMapLimits {
  size_t max_maps = 64;
  // Entries rendered per map; the rest count in entries_omitted.
  size_t max_entries = 256;
  // Largest value read for one entry (a .bss can be big).
  size_t max_value_bytes = 1 << 20;
  size_t max_cpus = 64;
};

absl::StatusOr<std::vector<ktvm::report::BpfMap>> ReadBpfMaps(
    const GuestKernel& kernel, const BpfMapLimits& limits,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_BPF_MAPS_H_

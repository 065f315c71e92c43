// The BPF maps in the guest, rendered for the report: metadata for every
// map in map_idr; values of ARRAY maps (global-data maps .bss/.data/.rodata
// through the DATASEC of the program's BTF), PERCPU_ARRAY (one value per
// CPU), HASH/LRU_HASH (bucket chains), PERCPU_HASH/LRU_PERCPU_HASH (a value
// per CPU per element) and QUEUE/STACK (in pop order). Other types keep
// metadata only, with a note.
#ifndef KTVM_VMM_DUMP_BPF_MAPS_H_
#define KTVM_VMM_DUMP_BPF_MAPS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "btf/btf_ptr.h"
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

// What the later steps (arena snapshot, sdt walk) need from a program's
// maps: its BTF and the raw bytes of its global-data sections.
struct ProgramGlobals {
  btf::BtfPtr btf;
  // DATASEC name (".bss", ".data", ...) and the section's bytes.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections;
};

struct BpfMapsRead {
  std::vector<ktvm::report::BpfMap> maps;
  // One per distinct program BTF that has global-data maps.
  std::vector<ProgramGlobals> programs;
};

absl::StatusOr<BpfMapsRead> ReadBpfMaps(
    const GuestKernel& kernel, const BpfMapLimits& limits,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_BPF_MAPS_H_

// Every BPF map and program the kernel holds, found through map_idr and
// prog_idr (IDRs, i.e. XArrays of struct bpf_map / struct bpf_prog
// pointers) in guest memory.
#ifndef KTVM_VMM_DUMP_MAP_IDR_H_
#define KTVM_VMM_DUMP_MAP_IDR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

// The XArray entries (kernel addresses) under `xa_head`, in index order, at
// most `max_entries`. Internal entries (retry, sibling, zero) and value
// entries are skipped; nodes whose shift/parent links are inconsistent
// stop that subtree and count in `*skipped_nodes`.
absl::StatusOr<std::vector<uint64_t>> WalkXArray(const GuestKernel& kernel,
                                                 uint64_t xa_head,
                                                 size_t max_entries,
                                                 uint32_t* skipped_nodes);

// Kernel addresses of struct bpf_map for every map in map_idr.
absl::StatusOr<std::vector<uint64_t>> ListBpfMaps(const GuestKernel& kernel,
                                                  size_t max_maps,
                                                  uint32_t* skipped_nodes);

// Kernel addresses of struct bpf_prog for every program in prog_idr (main
// programs only: subprograms hang off prog->aux->func[]).
absl::StatusOr<std::vector<uint64_t>> ListBpfPrograms(const GuestKernel& kernel,
                                                      size_t max_programs,
                                                      uint32_t* skipped_nodes);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_MAP_IDR_H_

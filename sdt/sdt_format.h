// Human-readable text for sdt_alloc walk results (what dumpview and test
// logs print).
#ifndef KTVM_SDT_SDT_FORMAT_H_
#define KTVM_SDT_SDT_FORMAT_H_

#include <string>

#include "proto/failure_dump.pb.h"

namespace ktvm::sdt {

// `idx=7 genn=1 user_addr=0x1000 payload=struct x { ... }`, with
// ` (zeroed)` when the live slot's payload was all zero.
std::string FormatSdtAllocEntry(const ktvm::report::SdtAllocEntry& entry);

// A header line, then one indented line per entry:
// `sdt_alloc task_allocator (elem_size=24, btf_type_id=33, type=struct
// ktvm_task_ctx): 2 live (truncated) (1 subtrees skipped)`. A reason for
// the hex fallback and an allocator-level error are included when set.
std::string FormatSdtAllocatorSnapshot(
    const ktvm::report::SdtAllocatorSnapshot& snapshot);

}  // namespace ktvm::sdt

#endif  // KTVM_SDT_SDT_FORMAT_H_

// Per-CPU run-queue summary: nr_running, sched_ext's nr_running and local
// DSQ depth, the running task. Per-CPU rq = &runqueues + __per_cpu_offset[cpu].
#ifndef KTVM_VMM_DUMP_RUN_QUEUES_H_
#define KTVM_VMM_DUMP_RUN_QUEUES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

// One entry per possible CPU (nr_cpu_ids, capped). A CPU whose rq cannot be
// read is reported in `diagnostics` and skipped.
absl::StatusOr<std::vector<ktvm::report::CpuRunQueue>> ReadRunQueues(
    const GuestKernel& kernel,
    std::vector<ktvm::report::Diagnostic>& diagnostics);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_RUN_QUEUES_H_

// How long the host kept the guest's threads waiting for a CPU: the
// scheduler's per-thread run_delay (/proc/<pid>/task/<tid>/schedstat, the
// time a thread was runnable but not running; CONFIG_SCHED_INFO).
#ifndef KTVM_VMM_DUMP_HOST_RUN_DELAY_H_
#define KTVM_VMM_DUMP_HOST_RUN_DELAY_H_

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmm/backend/backend.h"

namespace ktvm::dump {

// Cumulative run_delay per host tid, in nanoseconds.
using RunDelaySample = absl::flat_hash_map<int, int64_t>;

// Reads every listed thread (all of the process's threads with
// every_thread). Threads that ended meanwhile are left out; an error only when
// no thread could be read at all.
absl::StatusOr<RunDelaySample> SampleRunDelay(
    const backend::GuestHostThreads& threads);

// The most any one thread waited between two samples (threads in both).
// The most-starved thread, not the sum: the guest's clock moves when any
// of its vCPUs gets to run, and threads that idle (halted vCPUs) never wait.
absl::Duration MaxRunDelayGrowth(const RunDelaySample& before,
                                 const RunDelaySample& after);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_HOST_RUN_DELAY_H_

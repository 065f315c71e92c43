// Process exit codes of the ktvm binary (documented in vmm/README.md).
#ifndef KTVM_VMM_EXIT_CODES_H_
#define KTVM_VMM_EXIT_CODES_H_

#include "absl/status/status.h"

namespace ktvm::vmm {

enum ExitCode : int {
  // The guest ran and ended by itself; the workload (if any) exited 0.
  kExitOk = 0,
  // The workload exited non-zero, or the guest crashed (triple fault, KVM
  // emulation failure, kernel panic) before reporting a workload result.
  kExitWorkloadFailed = 1,
  // Bad flags or bad input files (missing, not a kernel, truncated, too
  // large for --memory, --cpus out of range).
  kExitUsage = 2,
  // The scheduler failed (sched_ext error/stall); a dump was written if
  // freeze-and-dump is available.
  kExitSchedulerFailed = 3,
  // The host cannot run the guest: no /dev/kvm, no permission, a missing KVM
  // capability, or the requested accelerator is unavailable.
  kExitEnvironment = 4,
  // A bug or unexpected failure inside ktvm.
  kExitInternal = 5,
  // --timeout passed before the guest ended.
  kExitTimeout = 6,
};

// Setup errors by status code: InvalidArgument/NotFound/OutOfRange are the
// user's input (kExitUsage); Unavailable/PermissionDenied/FailedPrecondition/
// Unimplemented are the host (kExitEnvironment); anything else is internal.
ExitCode ExitCodeForSetupError(const absl::Status& status);

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_EXIT_CODES_H_

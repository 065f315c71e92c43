// Decides when a guest whose jiffies stopped counts as hung.
//
// Wall time alone cannot tell a hung guest from one the host did not run: a
// loaded CI machine, a sanitizer build or QEMU TCG on two cores can keep a
// healthy guest off the CPU for seconds. So the stall is charged only with
// time the guest could have run: while jiffies stand still, the growth of
// the most-starved guest thread's run-queue wait is subtracted (the most
// starved, as any one vCPU may be the one that ticks). A hung guest is
// caught after `limit` when the host has a core for each of its busy
// vCPUs; otherwise later, by the time they waited, also for each other (4
// spinning vCPUs on 2 host cores: about twice `limit`).
#ifndef KTVM_VMM_DUMP_JIFFIES_WATCHDOG_H_
#define KTVM_VMM_DUMP_JIFFIES_WATCHDOG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmm/dump/host_run_delay.h"

namespace ktvm::dump {

class JiffiesWatchdog {
 public:
  using SampleFn = absl::FunctionRef<absl::StatusOr<RunDelaySample>()>;

  // How often the guest threads' run delays are read (a few /proc files;
  // a healthy kernel ticks every 1-10 ms, so only a long stall needs them).
  static constexpr absl::Duration kSampleEvery = absl::Milliseconds(100);

  explicit JiffiesWatchdog(absl::Duration limit) : limit_(limit) {}

  // One poll at `now` that read `jiffies`; `sample` is called at most every
  // kSampleEvery. Returns the trigger summary once the stall, less the
  // host's run-queue wait, exceeds the limit.
  std::optional<std::string> Observe(absl::Time now, uint64_t jiffies,
                                     SampleFn sample);

  // Time the guest's threads waited for a host CPU in the current stall.
  absl::Duration starved() const { return starved_; }

 private:
  const absl::Duration limit_;
  std::optional<uint64_t> jiffies_;
  absl::Time progress_;  // when jiffies last changed
  absl::Duration starved_;
  std::optional<RunDelaySample> last_sample_;
  absl::Time last_sample_time_;
  std::string sample_error_;  // why run delays are unknown, if they are
};

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_JIFFIES_WATCHDOG_H_

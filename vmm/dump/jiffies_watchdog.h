// Decides when a guest whose jiffies stopped counts as hung.
//
// Wall time alone cannot tell a hung guest from one the host did not run: a
// loaded CI machine, a sanitizer build or QEMU TCG on two cores can keep a
// healthy guest off the CPU for seconds. So the stall is charged only with
// time the guest could have run: while jiffies stand still, the growth of
// the most-starved guest thread's run-queue wait is subtracted. A hung guest
// on an idle host is caught after `limit`; on a loaded host later, by the
// time it waited.
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

  // A healthy kernel ticks every 1-10 ms; run delays are only sampled once
  // jiffies stood still this long, and then at this interval.
  static constexpr absl::Duration kSampleEvery = absl::Milliseconds(100);

  explicit JiffiesWatchdog(absl::Duration limit) : limit_(limit) {}

  // One poll at `now` that read `jiffies`. `sample` is called only while
  // jiffies stand still. Returns the trigger summary once the stall, less
  // the host's run-queue wait, exceeds the limit.
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

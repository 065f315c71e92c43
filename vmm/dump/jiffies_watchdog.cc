#include "vmm/dump/jiffies_watchdog.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::dump {

std::optional<std::string> JiffiesWatchdog::Observe(absl::Time now,
                                                    uint64_t jiffies,
                                                    SampleFn sample) {
  const bool moved = !jiffies_.has_value() || jiffies != *jiffies_;
  if (moved) {
    jiffies_ = jiffies;
    progress_ = now;
    starved_ = absl::ZeroDuration();
  }
  // Sampled on a clock, not only once a stall is seen: after a gap in the
  // polling itself (ktvm starved along with the guest), the last sample
  // from before the gap is what shows how long the guest waited in it.
  if (!last_sample_.has_value() || now - last_sample_time_ >= kSampleEvery) {
    absl::StatusOr<RunDelaySample> s = sample();
    if (s.ok()) {
      if (last_sample_.has_value() && !moved) {
        // Only the part of the interval inside the stall counts; and a
        // thread cannot have waited longer than that, which also keeps a
        // bogus counter from hiding a real hang for long.
        const absl::Duration window =
            now - std::max(last_sample_time_, progress_);
        starved_ += std::min(MaxRunDelayGrowth(*last_sample_, *s), window);
      }
      last_sample_ = *std::move(s);
      last_sample_time_ = now;
      sample_error_.clear();
    } else {
      sample_error_ = std::string(s.status().message());
    }
  }
  const absl::Duration stalled = now - progress_;
  if (stalled - starved_ <= limit_) return std::nullopt;
  std::string summary = absl::StrFormat(
      "jiffies stuck at %d for %s", *jiffies_,
      absl::FormatDuration(absl::Trunc(stalled, absl::Milliseconds(1))));
  if (starved_ > absl::ZeroDuration()) {
    absl::StrAppend(
        &summary, " (",
        absl::FormatDuration(absl::Trunc(starved_, absl::Milliseconds(1))),
        " of it waiting for a host CPU)");
  } else if (!sample_error_.empty()) {
    absl::StrAppend(&summary, " (host CPU wait unknown: ", sample_error_, ")");
  }
  return summary;
}

}  // namespace ktvm::dump

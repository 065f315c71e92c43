#include "vmm/dump/jiffies_watchdog.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::dump {

std::optional<std::string> JiffiesWatchdog::Observe(absl::Time now,
                                                    uint64_t jiffies,
                                                    SampleFn sample) {
  if (!jiffies_.has_value() || jiffies != *jiffies_) {
    jiffies_ = jiffies;
    progress_ = now;
    starved_ = absl::ZeroDuration();
    last_sample_.reset();
    return std::nullopt;
  }
  const absl::Duration stalled = now - progress_;
  if (stalled < kSampleEvery) return std::nullopt;
  if (!last_sample_.has_value() || now - last_sample_time_ >= kSampleEvery) {
    absl::StatusOr<RunDelaySample> s = sample();
    if (s.ok()) {
      if (last_sample_.has_value()) {
        // A thread cannot have waited longer than the interval; clamping
        // keeps a bogus counter from hiding a real hang for long.
        starved_ += std::min(MaxRunDelayGrowth(*last_sample_, *s),
                             now - last_sample_time_);
      }
      last_sample_ = *std::move(s);
      last_sample_time_ = now;
      sample_error_.clear();
    } else {
      sample_error_ = std::string(s.status().message());
    }
  }
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

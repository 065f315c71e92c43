// The loop that runs while the guest runs: waits for it to end, polls the
// dump engine (about every millisecond), turns --timeout and a signal to
// ktvm into dumps, writes the report atomically and prints its summary.
#ifndef KTVM_VMM_DUMP_GUEST_WATCH_H_
#define KTVM_VMM_DUMP_GUEST_WATCH_H_

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/failure_dump.pb.h"
#include "vmm/backend/backend.h"
#include "vmm/dump/dump_engine.h"

namespace ktvm::dump {

struct WatchOptions {
  // Infinite: wait forever.
  absl::Duration timeout = absl::InfiniteDuration();
  // Empty: DefaultReportPath() (working directory).
  std::string report_path;
  // A report already at report_path written at or after this time belongs
  // to another run sharing the path and is kept (see WriteReportAtomically).
  absl::Time keep_reports_since = absl::InfiniteFuture();
  bool json = false;
  bool resume_after_dump = false;
  // Non-zero (set from a signal handler): dump now, then stop the guest.
  const std::atomic<int>* manual_signal = nullptr;
  absl::Duration poll_interval = absl::Milliseconds(1);
};

struct WatchResult {
  // How the guest ended; DeadlineExceeded when --timeout passed.
  absl::StatusOr<backend::GuestExit> exit =
      absl::UnknownError("the guest is still running");
  // Set when a dump was taken.
  std::optional<ktvm::report::FailureDumpReport> report;
  std::string report_path;       // binary report, when written
  std::string json_report_path;  // with WatchOptions::json
};

// `engine` may be null (no dumps: the guest is only waited for).
WatchResult WatchGuest(backend::Backend& guest, DumpEngine* engine,
                       const WatchOptions& options);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_GUEST_WATCH_H_

// Test helper: a ktvm process a test drives while it runs. It starts in its
// own process group, as a shell starts a job, so a test can signal the group
// the way a terminal's Ctrl-C does without signalling itself. Its output is
// drained all the time (a full pipe would stall the guest's console) and the
// test can wait for a text and learn when it appeared.
#ifndef KTVM_VMM_KTVM_CHILD_H_
#define KTVM_VMM_KTVM_CHILD_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ktvm::vmm::testing {

class KtvmChild {
 public:
  // Runs argv[0] (a path, not searched) with stdin from /dev/null and
  // stdout and stderr into one pipe.
  static absl::StatusOr<std::unique_ptr<KtvmChild>> Start(
      const std::vector<std::string>& argv);

  // Kills the whole group if it still runs, so no VM outlives a test.
  ~KtvmChild();
  KtvmChild(const KtvmChild&) = delete;
  KtvmChild& operator=(const KtvmChild&) = delete;

  pid_t pid() const { return pid_; }
  absl::Time start_time() const { return start_time_; }

  // When `text` first appeared in the output. DeadlineExceeded after
  // `timeout`; FailedPrecondition if the output ended without it.
  absl::StatusOr<absl::Time> WaitForOutput(absl::string_view text,
                                           absl::Duration timeout);

  // kill() of the process group (-pid) or of the process alone.
  bool SignalGroup(int signo) const;
  bool Signal(int signo) const;

  // Reaps the process and drains its output; returns the wait status.
  // DeadlineExceeded after `timeout` (the group is then SIGKILLed).
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // When Wait() saw the process gone.
  absl::Time exit_time() const { return exit_time_; }

  std::string Output() const;

 private:
  KtvmChild(pid_t pid, int output_fd);
  void ReadOutput();

  const pid_t pid_;
  const int output_fd_;
  const absl::Time start_time_;
  absl::Time exit_time_ = absl::InfiniteFuture();
  std::optional<int> wait_status_;
  std::atomic<bool> stop_reading_{false};
  mutable absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  // (end offset in output_, when read) per read: when a text arrived.
  std::vector<std::pair<size_t, absl::Time>> read_times_ ABSL_GUARDED_BY(mu_);
  bool output_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

// The exit code in a wait status; -1 when the process was killed by a signal.
int ExitCodeOf(int wait_status);

// Live processes whose parent is `parent` (from /proc).
std::vector<pid_t> ChildrenOf(pid_t parent);

// True while `pid` exists and is not a zombie.
bool IsRunning(pid_t pid);

}  // namespace ktvm::vmm::testing

#endif  // KTVM_VMM_KTVM_CHILD_H_

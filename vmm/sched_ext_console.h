// Recognises the kernel's sched_ext messages on the console, so ktvm can
// tell a scheduler that the kernel threw out from one that exited cleanly
// even before freeze-and-dump reads the exit info from guest memory.
#ifndef KTVM_VMM_SCHED_EXT_CONSOLE_H_
#define KTVM_VMM_SCHED_EXT_CONSOLE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ktvm::vmm {

// For a line like `sched_ext: BPF scheduler "x" disabled (runnable task
// stall)`, the reason in parentheses when it is an error; nullopt for other
// lines and for a clean unregistration ("unregistered from user space").
std::optional<std::string> SchedExtErrorReason(std::string_view line);

// Feeds console bytes (any chunking, any thread) and remembers the first
// sched_ext error seen.
class SchedExtConsoleWatcher {
 public:
  void Feed(std::string_view bytes);
  std::optional<std::string> error() const;

 private:
  mutable absl::Mutex mu_;
  std::string partial_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_SCHED_EXT_CONSOLE_H_

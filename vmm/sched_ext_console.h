// Recognises the kernel's sched_ext "disabled" line on the console, so ktvm
// can tell a scheduler that the kernel threw out from one that exited
// cleanly even where freeze-and-dump cannot read the exit info from guest
// memory. vmm/dump/kernel_console.h scans the console with it.
#ifndef KTVM_VMM_SCHED_EXT_CONSOLE_H_
#define KTVM_VMM_SCHED_EXT_CONSOLE_H_

#include <optional>
#include <string>
#include <string_view>

namespace ktvm::vmm {

// For a line like `sched_ext: BPF scheduler "x" disabled (runnable task
// stall)`, the reason in parentheses when it is an error; nullopt for other
// lines and for a clean unregistration ("unregistered from user space").
std::optional<std::string> SchedExtErrorReason(std::string_view line);

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_SCHED_EXT_CONSOLE_H_

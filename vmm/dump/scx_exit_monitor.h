// Watches the running sched_ext scheduler's exit state in guest memory:
// scx_root -> struct scx_sched { exit_kind, exit_info }, with every offset
// from BTF. PollKind is the hot path (two reads, four during teardown);
// ReadExitInfo gathers the message and the kallsyms-symbolised backtrace once
// the guest is frozen.
#ifndef KTVM_VMM_DUMP_SCX_EXIT_MONITOR_H_
#define KTVM_VMM_DUMP_SCX_EXIT_MONITOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

// The kernel's SCX_EXIT_ERROR: kinds at or above it are failures.
inline constexpr int32_t kScxExitErrorKind = 1024;

// "ERROR_BPF" for 1025, "UNKNOWN(77)" for kinds the report's enum lacks.
std::string ScxExitKindName(int32_t kind);

class ScxExitMonitor {
 public:
  // Resolves scx_root and the offsets; fails when the kernel has no
  // sched_ext or its BTF lacks the fields.
  static absl::StatusOr<ScxExitMonitor> Create(const GuestKernel& kernel);

  // The claimed exit kind of the current scheduler: 0 when no scheduler is
  // attached or it has not exited.
  absl::StatusOr<int32_t> PollKind() const;

  // Everything the kernel recorded about the exit. `complete` is set once
  // exit_info->kind is: the kernel writes it only after the backtrace and
  // message.
  absl::StatusOr<ktvm::report::SchedExtExitInfo> ReadExitInfo() const;

 private:
  explicit ScxExitMonitor(const GuestKernel& kernel) : kernel_(&kernel) {}
  absl::StatusOr<uint64_t> CurrentSched() const;

  const GuestKernel* kernel_;
  uint64_t scx_root_ = 0;
  uint64_t exit_kind_offset_ = 0;
  uint64_t exit_info_offset_ = 0;
  uint64_t ops_name_offset_ = 0;
  uint64_t ei_kind_ = 0;
  uint64_t ei_exit_code_ = 0;
  uint64_t ei_reason_ = 0;
  uint64_t ei_bt_ = 0;
  uint64_t ei_bt_len_ = 0;
  uint64_t ei_msg_ = 0;
  uint64_t ei_dump_ = 0;
};

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_SCX_EXIT_MONITOR_H_

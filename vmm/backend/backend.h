// The small vCPU-control interface that the sched_ext monitor and the dump
// engine use, independent of how the guest runs (KVM or QEMU TCG).
//
// Threading: Start/Freeze/ReadRegisters/Resume/Stop are called from one
// controlling thread. The callbacks run on a backend-owned reader thread and
// must not call back into the backend.
#ifndef KTVM_VMM_BACKEND_BACKEND_H_
#define KTVM_VMM_BACKEND_BACKEND_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::memory {
class GuestMemory;
}  // namespace ktvm::memory

namespace ktvm::backend {

struct BackendCallbacks {
  // Raw bytes from COM1 (the kernel console), in order.
  std::function<void(std::string_view bytes)> console;
  // One complete COM2 line (without the newline): the guest init's control
  // protocol, see vmm/guest/control_protocol.h.
  std::function<void(std::string_view line)> control_line;
};

// The host threads that run the guest's vCPUs. Their run-queue wait is time
// the guest could not run however healthy it was, which the hang watchdog
// must not hold against it.
struct GuestHostThreads {
  int pid = -1;               // the process (ktvm itself, or QEMU)
  std::vector<int> tids;      // its vCPU threads
  bool every_thread = false;  // instead of `tids`: all threads of `pid`
};

// How the guest ended.
struct GuestExit {
  enum class Reason {
    kPoweroff,  // the guest shut down (e.g. reboot(RB_POWER_OFF))
    kReset,     // the guest rebooted/reset; ktvm runs with no-reboot
    kStopped,   // Stop() was called
    kCrashed,   // the backend itself died (QEMU exited unexpectedly, ...)
  };
  Reason reason = Reason::kCrashed;
  std::string detail;  // human text, e.g. "qemu exited with status 1"
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "kvm" or "qemu-tcg".
  virtual std::string_view name() const = 0;
  virtual int num_vcpus() const = 0;

  // Boots the guest; returns once it runs and guest memory is readable.
  virtual absl::Status Start(BackendCallbacks callbacks) = 0;
  // Stops every vCPU; returns once none runs guest code.
  virtual absl::Status Freeze() = 0;
  // Registers of every vCPU (index order). Requires a frozen guest. A vCPU
  // whose state could not be read has parked = false and a note saying why.
  virtual absl::StatusOr<std::vector<ktvm::report::VcpuState>>
  ReadRegisters() = 0;
  virtual absl::Status Resume() = 0;
  // Ends the guest for good (idempotent).
  virtual absl::Status Stop() = 0;

  // Guest-physical memory; valid from a successful Start() until the backend
  // is destroyed (also after Stop()). Reads while the guest runs are racy by
  // nature and fine for polling.
  virtual const ktvm::memory::GuestMemory& memory() const = 0;

  // Waits until the guest ends or `timeout` passes (DeadlineExceeded).
  virtual absl::StatusOr<GuestExit> WaitForExit(absl::Duration timeout) = 0;

  // The last `max_bytes` of COM1 output (kept for the report).
  virtual std::string ConsoleTail(size_t max_bytes) const = 0;
  // Every COM2 control line received so far.
  virtual std::vector<std::string> ControlLines() const = 0;

  // Which host threads run the guest (pid -1: unknown, e.g. before Start).
  virtual GuestHostThreads HostThreads() const { return {}; }
};

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_BACKEND_H_

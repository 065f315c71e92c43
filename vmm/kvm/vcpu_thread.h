// The thread that runs one vCPU: KVM_RUN in a loop, port and MMIO exits sent
// to the I/O buses, and every other exit turned into a VcpuStopEvent. The
// kick (kvm_run.immediate_exit plus a real-time signal that interrupts
// KVM_RUN) lets another thread stop or park the vCPU within one exit; a
// parked vCPU snapshots its own registers first, which is what
// freeze-and-dump reads.
#ifndef KTVM_VMM_KVM_VCPU_THREAD_H_
#define KTVM_VMM_KVM_VCPU_THREAD_H_

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmm/devices/io_bus.h"
#include "vmm/kvm/vcpu.h"

namespace ktvm::vmm {

enum class VcpuStopReason {
  kTripleFault,     // KVM_EXIT_SHUTDOWN
  kSystemShutdown,  // KVM_EXIT_SYSTEM_EVENT, type SHUTDOWN (e.g. PSCI/ACPI)
  kSystemReset,     // KVM_EXIT_SYSTEM_EVENT, type RESET
  kFailEntry,       // KVM_EXIT_FAIL_ENTRY
  kInternalError,   // KVM_EXIT_INTERNAL_ERROR (e.g. emulation failure)
  kUnhandledExit,   // an exit reason ktvm does not handle
  kVmmError,        // an ioctl failed
};

const char* VcpuStopReasonName(VcpuStopReason reason);

struct VcpuStopEvent {
  int vcpu;
  VcpuStopReason reason;
  std::string detail;
};

// Registers a parked vCPU captured on its own thread.
struct VcpuSnapshot {
  int vcpu = 0;
  bool parked = false;
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<MsrValue> msrs;  // FS/GS/KERNEL_GS base, LSTAR, EFER
  std::string error;           // why registers could not be read, if so
};

class VcpuThread {
 public:
  using StopFn = std::function<void(const VcpuStopEvent&)>;

  // Installs the (empty) handler of the kick signal; call once per process
  // before any vCPU thread starts. Idempotent.
  static absl::Status InstallKickSignal();
  static int KickSignal();

  // `kick_blocked` (tests only) keeps the kick signal blocked on this
  // thread: a guest loop without exits then never returns from KVM_RUN, the
  // "vCPU that will not park" that Freeze must survive.
  VcpuThread(Vcpu* vcpu, IoBus* pio, IoBus* mmio, StopFn on_stop,
             bool kick_blocked = false)
      : vcpu_(vcpu),
        pio_(pio),
        mmio_(mmio),
        on_stop_(std::move(on_stop)),
        kick_blocked_(kick_blocked) {}
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;
  ~VcpuThread();

  // With a split irqchip the guest's EOI of a level-triggered IOAPIC vector
  // exits to the VMM (KVM_EXIT_IOAPIC_EOI); `on_eoi` gets the vector. Set
  // before Start().
  using EoiFn = std::function<void(uint8_t vector)>;
  void set_ioapic_eoi_handler(EoiFn on_eoi) { on_eoi_ = std::move(on_eoi); }

  void Start();
  // Makes the loop end at its next exit; returns at once.
  void RequestStop();
  void Join();

  // How JoinUntil ended.
  enum class JoinResult {
    kJoined,
    // Still inside KVM_RUN at the deadline: the thread was detached and,
    // should KVM_RUN ever return, ends touching nothing but this object and
    // its Vcpu, which the owner must then never free (see Machine).
    kAbandonedInKvmRun,
    // Running outside KVM_RUN at the deadline (blocked in an exit handler,
    // which is a ktvm bug): detached as well.
    kAbandonedOutsideKvmRun,
  };
  // After RequestStop: waits until `deadline` for the loop to end, so a vCPU
  // that cannot be kicked (kick signal blocked, a KVM that ignores it) cannot
  // hold up the VMM's exit.
  JoinResult JoinUntil(absl::Time deadline);

  // Freeze support. RequestPause returns at once; WaitParked blocks until the
  // vCPU parked (true) or `timeout` passed (false).
  void RequestPause();
  bool WaitParked(absl::Duration timeout);
  VcpuSnapshot snapshot() const;
  void Resume();

  uint64_t exit_count() const { return exits_.load(); }
  bool running() const { return running_.load(); }
  // The thread's host tid while its loop runs (0 before and after).
  int host_tid() const { return host_tid_.load(); }

 private:
  std::atomic_ref<uint8_t> ImmediateExit();
  void Kick();
  void Loop();
  // False when the loop must end.
  bool HandleExit();
  void Park();
  void Report(VcpuStopReason reason, std::string detail);

  Vcpu* vcpu_;
  IoBus* pio_;
  IoBus* mmio_;
  StopFn on_stop_;
  const bool kick_blocked_;
  EoiFn on_eoi_;
  std::thread thread_;
  std::atomic<pthread_t> native_{};
  std::atomic<int> host_tid_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_{false};
  std::atomic<uint64_t> exits_{0};
  // Who owns the thread's way out of KVM_RUN: the thread moves kOutside ->
  // kInKvmRun -> kOutside around each KVM_RUN, JoinUntil moves kInKvmRun ->
  // kAbandoned. The compare-exchange decides the race, so an abandoned
  // thread never runs an exit handler after its owner gave up on it.
  enum class RunState : uint8_t { kOutside, kInKvmRun, kAbandoned };
  std::atomic<RunState> run_state_{RunState::kOutside};

  mutable absl::Mutex mu_;
  bool parked_ ABSL_GUARDED_BY(mu_) = false;
  VcpuSnapshot snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_VCPU_THREAD_H_

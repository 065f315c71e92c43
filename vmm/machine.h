// A complete KVM machine: guest RAM, the VM with its interrupt controllers,
// the kernel loaded, vCPUs configured, legacy devices on the port bus, and
// one thread per vCPU. Architecture details stay in vmm/x86_64/.
#ifndef KTVM_VMM_MACHINE_H_
#define KTVM_VMM_MACHINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/byte_ring.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/io_bus.h"
#include "vmm/devices/ioapic.h"
#include "vmm/devices/uart_8250.h"
#include "vmm/kvm/guest_ram.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/kvm/vcpu_thread.h"
#include "vmm/kvm/vm.h"
#include "vmm/x86_64/kernel_loader.h"
#include "vmm/x86_64/vcpu_setup.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm {

inline constexpr uint64_t kMinMemoryBytes = 32ULL << 20;
inline constexpr size_t kConsoleTailBytes = 256 * 1024;

struct MachineConfig {
  std::string kvm_device_path = kDefaultKvmDevicePath;
  int num_cpus = 1;
  uint64_t memory_bytes = 512ULL << 20;
  // The kernel image (bzImage or PVH ELF) and an optional initramfs, as
  // bytes: the caller reads the files so bad paths are usage errors.
  std::string kernel;
  std::string initramfs;
  std::string extra_cmdline;
  x86_64::ApStart ap_start = x86_64::ApStart::kSipi;
  // COM1 bytes as they arrive (also kept in the console tail).
  std::function<void(std::string_view)> console;
  // Complete COM2 lines without the newline.
  std::function<void(std::string_view)> control_line;
  // Tests only: vCPUs whose threads keep the kick signal blocked, so they
  // cannot be parked while the guest runs without exits.
  std::vector<int> unkickable_vcpus_for_testing;
};

struct MachineExit {
  enum class Reason {
    kTripleFault,
    kI8042Reset,
    kPoweroff,  // KVM system event shutdown
    kReset,     // KVM system event reset
    kFailEntry,
    kInternalError,
    kVmmError,
    kStopped,  // Stop() was called
    kTimeout,  // Wait() gave up; the VM still runs
  };
  Reason reason = Reason::kStopped;
  int vcpu = -1;
  std::string detail;
};

const char* MachineExitReasonName(MachineExit::Reason reason);

struct IoStats {
  uint64_t unknown_port_reads = 0;
  uint64_t unknown_port_writes = 0;
  uint64_t unknown_mmio_reads = 0;
  uint64_t unknown_mmio_writes = 0;
  uint64_t last_unknown_port = 0;
  uint64_t last_unknown_mmio = 0;
  // Split irqchip: IOAPIC interrupts or routes KVM refused.
  uint64_t msi_errors = 0;
};

class Machine {
 public:
  // Errors: InvalidArgument/OutOfRange for bad configuration or images (the
  // user's fault), Unavailable/PermissionDenied/FailedPrecondition when KVM
  // is missing or lacks something, Internal for everything else.
  static absl::StatusOr<std::unique_ptr<Machine>> Create(MachineConfig config);
  ~Machine();

  // The largest --cpus this KVM allows, and the factors that set it.
  static x86_64::VcpuLimit CpuLimit(const KvmDevice& kvm);

  absl::Status Start();
  // Blocks until the guest ends or `timeout` passes (reason kTimeout).
  MachineExit Wait(absl::Duration timeout);

  // How long Stop() waits for the vCPU threads to end. A kicked vCPU leaves
  // KVM_RUN within microseconds (4 vCPUs parked in 0.23-3.6 ms here, slower
  // under sanitizers), so 2 s only runs out for a vCPU that cannot be
  // kicked; it is what such a vCPU adds to ktvm's exit.
  static constexpr absl::Duration kVcpuJoinTimeout = absl::Seconds(2);
  // A vCPU whose thread Stop() gave up on.
  struct StuckVcpu {
    int vcpu = -1;
    bool in_kvm_run = false;  // else blocked in ktvm's own exit handling
  };
  // Ends every vCPU thread, waiting at most `join_timeout` in all. Returns
  // the vCPUs whose threads are still running (on every call: idempotent).
  // Those are left running until the process exits: the Machine then never
  // frees what they use (see ~Machine).
  std::vector<StuckVcpu> Stop(absl::Duration join_timeout = kVcpuJoinTimeout);

  // Parks every vCPU and returns their registers; a vCPU that did not park
  // within `timeout` has parked == false. The first Freeze after a Resume
  // also saves the guest's kvmclock (where KVM_CAP_ADJUST_CLOCK exists).
  std::vector<VcpuSnapshot> Freeze(absl::Duration timeout);
  // Sets the kvmclock back to the value Freeze saved, so the guest does not
  // see the frozen time (no false soft-lockup or RCU stall reports), then
  // lets every vCPU run. The vCPUs resume even when the clock cannot be set.
  absl::Status Resume();
  // The guest's kvmclock now (for tests and reports).
  absl::StatusOr<uint64_t> GuestClockNs() const { return vm_.GetClockNs(); }
  // Whether KVM lets the VMM save and set the kvmclock.
  bool can_adjust_clock() const;

  int num_vcpus() const { return static_cast<int>(vcpus_.size()); }
  const GuestRam& ram() const { return ram_; }
  const x86_64::KernelBoot& boot() const { return boot_; }
  const KvmDevice& kvm() const { return kvm_; }
  std::string ConsoleTail(size_t max_bytes) const;
  std::vector<std::string> ControlLines() const;
  // The host thread id of each started vCPU thread (not yet running: left
  // out), for telling a hung guest from a starved one.
  std::vector<int> VcpuHostThreadIds() const;
  IoStats io_stats() const;
  // True when the topology uses x2APIC (split irqchip, ktvm's IOAPIC).
  bool split_irqchip() const { return ioapic_ != nullptr; }
  // Wall-clock ns of the guest's first write to the boot-timer port, and of
  // the first COM1 byte; 0 when not (yet) seen.
  int64_t first_boot_timer_write_ns() const {
    return boot_timer_.first_write_ns();
  }
  int64_t first_console_byte_ns() const { return first_console_ns_.load(); }
  // Guest RAM pages resident on the host (mincore), to tell the VMM's own
  // memory from the guest's.
  uint64_t GuestResidentBytes() const;

 private:
  Machine(MachineConfig config, KvmDevice kvm, Vm vm, GuestRam ram);
  // Full in-kernel irqchip and PIT, or for x2APIC topologies the split
  // irqchip with ktvm's IOAPIC on the MMIO bus.
  absl::Status SetUpIrqchip();
  absl::Status SetUpDevices();
  void OnConsole(std::string_view bytes);
  void OnControlBytes(std::string_view bytes);
  void RaiseIrq(int irq, bool level);
  void Finish(MachineExit exit);

  MachineConfig config_;
  KvmDevice kvm_;
  Vm vm_;
  GuestRam ram_;
  x86_64::KernelBoot boot_{};
  IoBus pio_{"port"};
  IoBus mmio_{"mmio"};
  std::unique_ptr<Uart8250> com1_;
  std::unique_ptr<Uart8250> com2_;
  std::unique_ptr<I8042> i8042_;
  std::unique_ptr<Ioapic> ioapic_;  // only with a split irqchip
  std::atomic<uint64_t> msi_errors_{0};
  BootTimer boot_timer_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<std::unique_ptr<VcpuThread>> threads_;
  // Filled by Stop(); only the thread calling Stop() (the owner's) uses it.
  std::vector<StuckVcpu> stuck_vcpus_;
  std::atomic<int64_t> first_console_ns_{0};
  // The kvmclock when the current freeze began; empty while running.
  std::optional<uint64_t> frozen_clock_ns_;
  std::string clock_error_;

  mutable absl::Mutex mu_;
  std::optional<MachineExit> exit_ ABSL_GUARDED_BY(mu_);
  ByteRing console_tail_ ABSL_GUARDED_BY(mu_){kConsoleTailBytes};
  std::string control_pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> control_lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_MACHINE_H_

#include "vmm/machine.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm {
namespace {

x86_64::KvmVcpuCaps VcpuCapsOf(const KvmDevice& kvm) {
  constexpr int kX2apicApiFlags =
      KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
  x86_64::KvmVcpuCaps caps;
  caps.max_vcpus = kvm.max_vcpus();
  caps.max_vcpu_id = kvm.CheckExtension(KVM_CAP_MAX_VCPU_ID);
  caps.split_irqchip = kvm.CheckExtension(KVM_CAP_SPLIT_IRQCHIP) > 0;
  caps.x2apic_api = (kvm.CheckExtension(KVM_CAP_X2APIC_API) &
                     kX2apicApiFlags) == kX2apicApiFlags;
  return caps;
}

// A COM2 line longer than this is cut so a guest cannot grow host memory.
constexpr size_t kMaxControlLineBytes = 4096;

MachineExit::Reason FromVcpuStop(VcpuStopReason r) {
  switch (r) {
    case VcpuStopReason::kTripleFault:
      return MachineExit::Reason::kTripleFault;
    case VcpuStopReason::kSystemShutdown:
      return MachineExit::Reason::kPoweroff;
    case VcpuStopReason::kSystemReset:
      return MachineExit::Reason::kReset;
    case VcpuStopReason::kFailEntry:
      return MachineExit::Reason::kFailEntry;
    case VcpuStopReason::kInternalError:
      return MachineExit::Reason::kInternalError;
    case VcpuStopReason::kUnhandledExit:
    case VcpuStopReason::kVmmError:
      return MachineExit::Reason::kVmmError;
  }
  return MachineExit::Reason::kVmmError;
}

// What a Machine with a stuck vCPU leaves behind on purpose (~Machine):
// held in a list that lives until the process exits, so it stays
// reachable and leak checkers (LeakSanitizer) do not flag a deliberate
// choice as a leak.
struct AbandonedMachineParts {
  std::vector<std::unique_ptr<VcpuThread>> threads;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  std::unique_ptr<GuestRam> ram;
};

void KeepUntilExit(std::unique_ptr<AbandonedMachineParts> parts) {
  static absl::Mutex mu(absl::kConstInit);
  // Never destroyed: exit() must not free what a stuck thread may touch.
  static auto* const kept =
      new std::vector<std::unique_ptr<AbandonedMachineParts>>;
  absl::MutexLock lock(&mu);
  kept->push_back(std::move(parts));
}

}  // namespace

const char* MachineExitReasonName(MachineExit::Reason reason) {
  switch (reason) {
    case MachineExit::Reason::kTripleFault:
      return "triple-fault";
    case MachineExit::Reason::kI8042Reset:
      return "i8042-reset";
    case MachineExit::Reason::kPoweroff:
      return "poweroff";
    case MachineExit::Reason::kReset:
      return "reset";
    case MachineExit::Reason::kFailEntry:
      return "fail-entry";
    case MachineExit::Reason::kInternalError:
      return "kvm-internal-error";
    case MachineExit::Reason::kVmmError:
      return "vmm-error";
    case MachineExit::Reason::kStopped:
      return "stopped";
    case MachineExit::Reason::kTimeout:
      return "timeout";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Create(MachineConfig config) {
  if (config.num_cpus < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--cpus %d: need at least 1 vCPU", config.num_cpus));
  }
  if (config.memory_bytes < kMinMemoryBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--memory %d MiB is below the minimum of %d MiB",
                        config.memory_bytes >> 20, kMinMemoryBytes >> 20));
  }
  if (config.memory_bytes % x86_64::kPageSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--memory %d bytes is not a multiple of 4 KiB", config.memory_bytes));
  }
  absl::StatusOr<KvmDevice> kvm = KvmDevice::Open(config.kvm_device_path);
  if (!kvm.ok()) return kvm.status();
  const x86_64::VcpuLimit limit = CpuLimit(*kvm);
  if (config.num_cpus > limit.max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--cpus %d exceeds the limit of %d (%s)",
                        config.num_cpus, limit.max_vcpus, limit.factors));
  }
  absl::StatusOr<Vm> vm = Vm::Create(*kvm);
  if (!vm.ok()) return vm.status();
  absl::StatusOr<GuestRam> ram = GuestRam::Create(
      config.memory_bytes, x86_64::kMmioHoleStart, x86_64::kMmioHoleEnd);
  if (!ram.ok()) return ram.status();

  std::unique_ptr<Machine> m(new Machine(std::move(config), std::move(*kvm),
                                         std::move(*vm), std::move(*ram)));
  // TSS/identity map first: KVM wants them before vCPUs exist on Intel.
  if (absl::Status s = m->vm_.SetTssAndIdentityMap(x86_64::kKvmTssAddr,
                                                   x86_64::kKvmIdentityMapAddr);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = m->SetUpIrqchip(); !s.ok()) return s;
  uint32_t slot = 0;
  for (const RamRegion& r : m->ram_.regions()) {
    if (absl::Status s =
            m->vm_.SetUserMemoryRegion(slot++, r.gpa, r.size, r.host);
        !s.ok()) {
      return s;
    }
  }
  const auto as_bytes = [](const std::string& s) {
    return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                               s.size());
  };
  absl::StatusOr<x86_64::KernelBoot> boot = x86_64::LoadKernel(
      m->ram_, as_bytes(m->config_.kernel), as_bytes(m->config_.initramfs),
      m->config_.extra_cmdline, m->config_.num_cpus);
  if (!boot.ok()) return boot.status();
  m->boot_ = *boot;
  // The images now live in guest RAM; do not keep a second copy.
  m->config_.kernel = std::string();
  m->config_.initramfs = std::string();

  if (absl::Status s = m->SetUpDevices(); !s.ok()) return s;
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid =
      m->kvm_.GetSupportedCpuid();
  if (!cpuid.ok()) return cpuid.status();
  for (int i = 0; i < m->config_.num_cpus; ++i) {
    absl::StatusOr<Vcpu> vcpu = Vcpu::Create(m->kvm_, m->vm_, i);
    if (!vcpu.ok()) return vcpu.status();
    auto owned = std::make_unique<Vcpu>(std::move(*vcpu));
    if (absl::Status s = x86_64::ConfigureVcpu(
            *owned, m->config_.num_cpus, *cpuid, m->boot_, m->config_.ap_start);
        !s.ok()) {
      return s;
    }
    m->vcpus_.push_back(std::move(owned));
  }
  return m;
}

Machine::Machine(MachineConfig config, KvmDevice kvm, Vm vm, GuestRam ram)
    : config_(std::move(config)),
      kvm_(std::move(kvm)),
      vm_(std::move(vm)),
      ram_(std::move(ram)) {}

Machine::~Machine() {
  if (Stop().empty()) return;
  // A vCPU thread inside KVM_RUN uses its VcpuThread, its Vcpu (fd and
  // kvm_run mapping) and, through KVM, guest RAM. Closing or unmapping them
  // under it would turn the stuck guest into a fault in ktvm, so they are
  // leaked on purpose; the process exit tears the VM down with them.
  auto parts = std::make_unique<AbandonedMachineParts>();
  for (const StuckVcpu& stuck : stuck_vcpus_) {
    parts->threads.push_back(std::move(threads_[stuck.vcpu]));
    parts->vcpus.push_back(std::move(vcpus_[stuck.vcpu]));
  }
  parts->ram = std::make_unique<GuestRam>(std::move(ram_));
  KeepUntilExit(std::move(parts));
}

x86_64::VcpuLimit Machine::CpuLimit(const KvmDevice& kvm) {
  return x86_64::MaxVcpus(VcpuCapsOf(kvm));
}

absl::Status Machine::SetUpIrqchip() {
  if (!x86_64::NeedsX2apic(config_.num_cpus)) {
    if (absl::Status s = vm_.CreateIrqchip(/*split=*/false, kIoapicNumPins);
        !s.ok()) {
      return s;
    }
    return vm_.CreatePit();
  }
  // APIC ids above 254: LAPICs in KVM, the IOAPIC here. There is no PIC and
  // so no in-kernel PIT; the hardware-reduced FADT tells Linux to use
  // neither (it takes its clock from kvmclock and the LAPIC timer).
  if (absl::Status s = vm_.CreateIrqchip(/*split=*/true, kIoapicNumPins);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = vm_.EnableX2apicApi(); !s.ok()) return s;
  ioapic_ = std::make_unique<Ioapic>(
      static_cast<uint8_t>(x86_64::IoapicId(config_.num_cpus)),
      [this](const MsiMessage& msi) {
        // A failed injection has no caller to return to; count it.
        absl::StatusOr<bool> sent = vm_.SignalMsi(msi.address, msi.data);
        if (!sent.ok()) msi_errors_.fetch_add(1, std::memory_order_relaxed);
      },
      [this](const std::vector<IoapicRoute>& routes) {
        std::vector<Vm::MsiRoute> kvm_routes;
        for (const IoapicRoute& r : routes) {
          kvm_routes.push_back(
              {static_cast<uint32_t>(r.pin), r.msi.address, r.msi.data});
        }
        if (!vm_.SetMsiRoutes(kvm_routes).ok()) {
          msi_errors_.fetch_add(1, std::memory_order_relaxed);
        }
      });
  return mmio_.Register(x86_64::kIoapicAddr, kIoapicMmioSize, ioapic_.get());
}

absl::Status Machine::SetUpDevices() {
  com1_ = std::make_unique<Uart8250>(
      [this](std::string_view b) { OnConsole(b); },
      [this](bool level) { RaiseIrq(kCom1Irq, level); });
  com2_ = std::make_unique<Uart8250>(
      [this](std::string_view b) { OnControlBytes(b); },
      [this](bool level) { RaiseIrq(kCom2Irq, level); });
  i8042_ = std::make_unique<I8042>([this] {
    Finish({MachineExit::Reason::kI8042Reset, -1,
            "guest pulsed the reset line through the i8042 (command 0xfe)"});
  });
  if (absl::Status s = pio_.Register(kCom1Port, kUartPortCount, com1_.get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = pio_.Register(kCom2Port, kUartPortCount, com2_.get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = pio_.Register(kI8042DataPort, 5, i8042_.get());
      !s.ok()) {
    return s;
  }
  return pio_.Register(kBootTimerPort, 1, &boot_timer_);
}

void Machine::RaiseIrq(int irq, bool level) {
  if (ioapic_ != nullptr) {
    ioapic_->SetIrq(irq, level);
    return;
  }
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  ::ioctl(vm_.fd(), KVM_IRQ_LINE, &line);
}

void Machine::OnConsole(std::string_view bytes) {
  int64_t expected = 0;
  first_console_ns_.compare_exchange_strong(expected,
                                            absl::GetCurrentTimeNanos());
  {
    absl::MutexLock lock(&mu_);
    console_tail_.Append(bytes);
  }
  if (config_.console) config_.console(bytes);
}

void Machine::OnControlBytes(std::string_view bytes) {
  std::vector<std::string> complete;
  {
    absl::MutexLock lock(&mu_);
    for (char c : bytes) {
      if (c == '\n') {
        if (!control_pending_.empty() && control_pending_.back() == '\r') {
          control_pending_.pop_back();
        }
        complete.push_back(std::move(control_pending_));
        control_pending_.clear();
      } else if (control_pending_.size() < kMaxControlLineBytes) {
        control_pending_.push_back(c);
      }
    }
    control_lines_.insert(control_lines_.end(), complete.begin(),
                          complete.end());
  }
  if (config_.control_line) {
    for (const std::string& line : complete) config_.control_line(line);
  }
}

void Machine::Finish(MachineExit exit) {
  {
    absl::MutexLock lock(&mu_);
    if (exit_.has_value()) return;  // the first reason wins
    exit_ = std::move(exit);
  }
  for (auto& t : threads_) t->RequestStop();
}

absl::Status Machine::Start() {
  if (absl::Status s = VcpuThread::InstallKickSignal(); !s.ok()) return s;
  for (auto& vcpu : vcpus_) {
    const std::vector<int>& unkickable_vcpus =
        config_.unkickable_vcpus_for_testing;
    const bool unkickable =
        std::find(unkickable_vcpus.begin(), unkickable_vcpus.end(),
                  vcpu->index()) != unkickable_vcpus.end();
    threads_.push_back(std::make_unique<VcpuThread>(
        vcpu.get(), &pio_, &mmio_,
        [this](const VcpuStopEvent& e) {
          Finish({FromVcpuStop(e.reason), e.vcpu,
                  absl::StrFormat("vCPU %d: %s: %s", e.vcpu,
                                  VcpuStopReasonName(e.reason), e.detail)});
        },
        unkickable));
    if (ioapic_ != nullptr) {
      threads_.back()->set_ioapic_eoi_handler(
          [this](uint8_t vector) { ioapic_->EndOfInterrupt(vector); });
    }
  }
  for (auto& t : threads_) t->Start();
  return absl::OkStatus();
}

MachineExit Machine::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return exit_.has_value();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
    return {MachineExit::Reason::kTimeout, -1,
            absl::StrFormat("guest still running after %s",
                            absl::FormatDuration(timeout))};
  }
  return *exit_;
}

std::vector<Machine::StuckVcpu> Machine::Stop(absl::Duration join_timeout) {
  // Given up on by an earlier Stop(): their threads are detached and may
  // have ended, so they are neither kicked (pthread_kill on an ended thread
  // is undefined) nor waited for again.
  auto given_up = [this](int vcpu) {
    return std::any_of(stuck_vcpus_.begin(), stuck_vcpus_.end(),
                       [vcpu](const StuckVcpu& s) { return s.vcpu == vcpu; });
  };
  Finish({MachineExit::Reason::kStopped, -1, "stopped by the VMM"});
  for (size_t i = 0; i < threads_.size(); ++i) {
    if (!given_up(static_cast<int>(i))) threads_[i]->RequestStop();
  }
  const absl::Time deadline = absl::Now() + join_timeout;
  for (size_t i = 0; i < threads_.size(); ++i) {
    const int vcpu = static_cast<int>(i);
    if (given_up(vcpu)) continue;
    switch (threads_[i]->JoinUntil(deadline)) {
      case VcpuThread::JoinResult::kJoined:
        break;
      case VcpuThread::JoinResult::kAbandonedInKvmRun:
        stuck_vcpus_.push_back({vcpu, /*in_kvm_run=*/true});
        break;
      case VcpuThread::JoinResult::kAbandonedOutsideKvmRun:
        stuck_vcpus_.push_back({vcpu, /*in_kvm_run=*/false});
        break;
    }
  }
  return stuck_vcpus_;
}

std::vector<VcpuSnapshot> Machine::Freeze(absl::Duration timeout) {
  for (auto& t : threads_) t->RequestPause();
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<VcpuSnapshot> out;
  for (size_t i = 0; i < threads_.size(); ++i) {
    VcpuThread& t = *threads_[i];
    if (t.WaitParked(std::max(absl::ZeroDuration(), deadline - absl::Now()))) {
      out.push_back(t.snapshot());
    } else {
      VcpuSnapshot missing;
      missing.vcpu = static_cast<int>(i);
      missing.parked = false;
      missing.error = t.running() ? "did not park before the timeout"
                                  : "vCPU thread has ended";
      out.push_back(std::move(missing));
    }
  }
  // Only the first of repeated freezes saves the clock: the kvmclock keeps
  // running on the host while frozen, so a later save would include it.
  if (!frozen_clock_ns_.has_value() && can_adjust_clock()) {
    absl::StatusOr<uint64_t> clock = vm_.GetClockNs();
    if (clock.ok()) {
      frozen_clock_ns_ = *clock;
    } else {
      clock_error_ = std::string(clock.status().message());
    }
  }
  return out;
}

bool Machine::can_adjust_clock() const {
  return kvm_.CheckExtension(KVM_CAP_ADJUST_CLOCK) > 0;
}

absl::Status Machine::Resume() {
  absl::Status clock = absl::OkStatus();
  if (frozen_clock_ns_.has_value()) {
    clock = vm_.SetClockNs(*frozen_clock_ns_);
    frozen_clock_ns_.reset();
  } else if (!clock_error_.empty()) {
    clock = absl::InternalError(clock_error_);
  }
  clock_error_.clear();
  for (auto& t : threads_) t->Resume();
  return clock;
}

std::string Machine::ConsoleTail(size_t max_bytes) const {
  absl::MutexLock lock(&mu_);
  return console_tail_.Tail(max_bytes);
}

std::vector<int> Machine::VcpuHostThreadIds() const {
  std::vector<int> tids;
  for (const std::unique_ptr<VcpuThread>& t : threads_) {
    if (t != nullptr && t->host_tid() != 0) tids.push_back(t->host_tid());
  }
  return tids;
}

std::vector<std::string> Machine::ControlLines() const {
  absl::MutexLock lock(&mu_);
  return control_lines_;
}

uint64_t Machine::GuestResidentBytes() const {
  const long page = ::sysconf(_SC_PAGESIZE);
  uint64_t resident = 0;
  for (const RamRegion& r : ram_.regions()) {
    std::vector<unsigned char> vec((r.size + page - 1) / page);
    if (::mincore(r.host, r.size, vec.data()) != 0) continue;
    for (unsigned char v : vec) resident += (v & 1) ? page : 0;
  }
  return resident;
}

IoStats Machine::io_stats() const {
  IoStats s;
  s.unknown_port_reads = pio_.unknown_reads();
  s.unknown_port_writes = pio_.unknown_writes();
  s.unknown_mmio_reads = mmio_.unknown_reads();
  s.unknown_mmio_writes = mmio_.unknown_writes();
  s.last_unknown_port = pio_.last_unknown_addr();
  s.last_unknown_mmio = mmio_.last_unknown_addr();
  s.msi_errors = msi_errors_.load();
  return s;
}

}  // namespace ktvm::vmm

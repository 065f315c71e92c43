// Backend that runs the guest in qemu-system-x86_64 with TCG, for hosts whose
// KVM cannot run a Linux kernel. Guest RAM lives in a file QEMU shares
// (memory-backend-file, share=on) and ktvm maps read-only; COM1/COM2 and QMP
// are unix sockets that ktvm listens on and QEMU connects to, all inside a
// private temporary directory so parallel runs never collide. QEMU is
// killed when the backend is destroyed (and by the kernel if ktvm dies).
#ifndef KTVM_VMM_BACKEND_QEMU_TCG_H_
#define KTVM_VMM_BACKEND_QEMU_TCG_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmm/backend/backend.h"
#include "vmm/backend/gdb_registers.h"
#include "vmm/backend/qmp_client.h"
#include "vmm/backend/ram_file_mapping.h"
#include "vmm/backend/unique_fd.h"

namespace ktvm::backend {

// QEMU's pc machine takes at most 255 vCPUs (QEMU itself refuses more).
inline constexpr int kQemuTcgMaxCpus = 255;
// ktvm's floor for a TCG guest: QEMU would start with less, but a Linux
// kernel plus ktvm's initramfs does not boot in it.
inline constexpr uint64_t kQemuTcgMinMemoryMib = 64;
inline constexpr uint64_t kQemuTcgMaxMemoryMib = 1024 * 1024;

// InvalidArgument naming the flag and the limit when QEMU TCG cannot run
// `cpus` vCPUs or `memory_bytes` of RAM; lets the CLI refuse them before
// anything starts.
absl::Status ValidateQemuTcgLimits(int cpus, uint64_t memory_bytes);

struct QemuTcgOptions {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string kernel;   // bzImage or ELF vmlinux (required)
  std::string initrd;   // optional
  std::string cmdline;  // kernel command line as given to -append
  // QEMU -cpu model. "max" offers LA57, so Linux runs with 5-level paging;
  // "max,la57=off" gives the 4-level paging most real hosts have.
  std::string cpu_model = "max";
  int cpus = 1;  // 1..kQemuTcgMaxCpus
  uint64_t memory_mib = 512;
  // Parent of the private temp dir; empty: $TEST_TMPDIR, $TMPDIR or /tmp.
  std::string temp_parent;
  absl::Duration start_timeout = absl::Seconds(20);
  std::vector<std::string> extra_args;  // appended to QEMU's command line
};

class QemuTcgBackend : public Backend {
 public:
  // Validates the options (files exist, sizes sane); starts nothing.
  static absl::StatusOr<std::unique_ptr<QemuTcgBackend>> Create(
      QemuTcgOptions options);
  ~QemuTcgBackend() override;

  std::string_view name() const override { return "qemu-tcg"; }
  int num_vcpus() const override { return options_.cpus; }

  absl::Status Start(BackendCallbacks callbacks) override;
  absl::Status Freeze() override;
  absl::StatusOr<std::vector<ktvm::report::VcpuState>> ReadRegisters() override;
  absl::Status Resume() override;
  absl::Status Stop() override;
  const ktvm::memory::GuestMemory& memory() const override;
  absl::StatusOr<GuestExit> WaitForExit(absl::Duration timeout) override;
  std::string ConsoleTail(size_t max_bytes) const override;
  std::vector<std::string> ControlLines() const override;
  GuestHostThreads HostThreads() const override;

  // QMP dump-guest-memory: an ELF core of guest RAM (PT_LOAD by physical
  // address, NT_PRSTATUS and QEMU CPU-state notes) written to `path`.
  // Read it with memory::ElfCore.
  absl::Status DumpGuestMemory(const std::string& path);
  // memory() requires a successful Start() (it is built there).
  // Guest RAM as mapped from QEMU's backing file (valid after Start()).
  const RamFileMapping& ram() const { return *ram_; }
  // The QEMU command line used (for logs and error messages).
  const std::vector<std::string>& qemu_argv() const { return argv_; }
  const std::string& temp_dir() const { return temp_dir_; }
  // QEMU's process id while it runs (-1 before Start()).
  pid_t qemu_pid() const { return qemu_pid_; }

 private:
  explicit QemuTcgBackend(QemuTcgOptions options);

  absl::Status StartLocked(BackendCallbacks callbacks);
  std::vector<std::string> BuildArgv() const;
  absl::StatusOr<UniqueFd> AcceptFrom(const UniqueFd& listener,
                                      std::string_view what,
                                      absl::Time deadline);
  std::string QemuLogTail() const;
  void ReaderLoop();
  // Reaps QEMU if it exited; returns true once it has.
  bool ReapQemu(bool block);
  void JoinReader();
  void RemoveTempDir();
  GuestExit ExitFromEvents();

  const QemuTcgOptions options_;
  BackendCallbacks callbacks_;
  std::string temp_dir_;
  std::vector<std::string> argv_;
  pid_t qemu_pid_ = -1;
  std::optional<int> qemu_wait_status_;
  std::optional<QmpClient> qmp_;
  std::optional<GdbRegisterClient> gdb_;  // connected on first use
  UniqueFd com1_;
  UniqueFd com2_;
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  std::unique_ptr<RamFileMapping> ram_;
  std::shared_ptr<const ktvm::memory::GuestMemory> guest_memory_;
  std::thread reader_;
  std::atomic<bool> reader_done_{false};
  bool started_ = false;
  bool frozen_ = false;
  bool stop_requested_ = false;
  std::optional<GuestExit> exit_;

  mutable absl::Mutex mu_;
  std::string console_ ABSL_GUARDED_BY(mu_);  // bounded tail of COM1
  std::vector<std::string> control_lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_QEMU_TCG_H_

// Helpers for end-to-end tests that boot the project's Debian kernel under
// the QEMU TCG backend with ktvm's init and the ktvm_fifo scheduler.
#ifndef KTVM_TESTS_E2E_QEMU_GUEST_H_
#define KTVM_TESTS_E2E_QEMU_GUEST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmm/backend/qemu_tcg.h"
#include "vmm/guest/control_protocol.h"

namespace ktvm::e2e {

struct GuestSpec {
  bool with_scheduler = true;
  // Runfiles path of the scheduler binary.
  std::string scheduler_path = "tests/schedulers/ktvm_fifo";
  std::vector<std::string> scheduler_args;
  std::string run;  // workload for /bin/sh -c
  int cpus = 2;
  std::string cpu_model = "max";
  uint64_t memory_mib = 512;
  int enable_timeout_ms = 30000;
  std::string extra_cmdline;  // appended to the kernel command line
};

// Runfiles paths of the test inputs (relative to the test's working dir).
std::string KernelPath();
std::string KernelVersion();  // contents of @kernel//:VERSION, trimmed

// Builds the initramfs into $TEST_TMPDIR and creates (not starts) the backend.
absl::StatusOr<std::unique_ptr<backend::QemuTcgBackend>> MakeGuest(
    const GuestSpec& spec);

// Parsed control events; lines that fail to parse make the test fail.
std::vector<guest::ControlEvent> ParseEvents(
    const std::vector<std::string>& lines);
// The first event of `kind`, or nullptr.
const guest::ControlEvent* FindEvent(
    const std::vector<guest::ControlEvent>& events,
    guest::ControlEventKind kind);

// Polls until a control line of `kind` arrived or `timeout` passed.
bool WaitForEvent(const backend::Backend& b, guest::ControlEventKind kind,
                  absl::Duration timeout);

}  // namespace ktvm::e2e

#endif  // KTVM_TESTS_E2E_QEMU_GUEST_H_

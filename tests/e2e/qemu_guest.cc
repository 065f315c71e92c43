#include "tests/e2e/qemu_guest.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "vmm/guest/initramfs.h"

namespace ktvm::e2e {

std::string KernelPath() { return "external/kernel/bzImage"; }

std::string KernelVersion() {
  std::ifstream in("external/kernel/VERSION");
  std::stringstream s;
  s << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(s.str()));
}

absl::StatusOr<std::unique_ptr<backend::QemuTcgBackend>> MakeGuest(
    const GuestSpec& spec) {
  guest::InitramfsSpec init;
  init.init_path = "vmm/guest/init";
  if (spec.with_scheduler) {
    init.scheduler_path = spec.scheduler_path;
    init.scheduler_args = spec.scheduler_args;
  }
  init.run_command = spec.run;
  init.scheduler_enable_timeout_ms = spec.enable_timeout_ms;
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string initrd =
      absl::StrCat(tmp ? tmp : "/tmp", "/initramfs-", getpid(), ".img");
  if (absl::Status s = guest::WriteInitramfs(init, initrd); !s.ok()) return s;

  backend::QemuTcgOptions opts;
  opts.kernel = KernelPath();
  opts.initrd = initrd;
  opts.cmdline = "console=ttyS0 panic=-1 oops=panic";
  if (!spec.extra_cmdline.empty()) opts.cmdline += " " + spec.extra_cmdline;
  opts.cpus = spec.cpus;
  opts.cpu_model = spec.cpu_model;
  opts.memory_mib = spec.memory_mib;
  return backend::QemuTcgBackend::Create(opts);
}

std::vector<guest::ControlEvent> ParseEvents(
    const std::vector<std::string>& lines) {
  std::vector<guest::ControlEvent> events;
  for (const std::string& line : lines) {
    auto ev = guest::ParseControlLine(line);
    EXPECT_TRUE(ev.ok()) << ev.status();
    if (ev.ok()) events.push_back(*std::move(ev));
  }
  return events;
}

const guest::ControlEvent* FindEvent(
    const std::vector<guest::ControlEvent>& events,
    guest::ControlEventKind kind) {
  for (const auto& e : events) {
    if (e.kind == kind) return &e;
  }
  return nullptr;
}

bool WaitForEvent(const backend::Backend& b, guest::ControlEventKind kind,
                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    for (const std::string& line : b.ControlLines()) {
      auto ev = guest::ParseControlLine(line);
      if (ev.ok() && ev->kind == kind) return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

}  // namespace ktvm::e2e

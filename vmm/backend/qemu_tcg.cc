#include "vmm/backend/qemu_tcg.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "vmm/backend/gdb_registers.h"
#include "vmm/backend/guest_memory_bridge.h"
#include "vmm/backend/x86_register_text.h"
#include "vmm/guest/control_protocol.h"

namespace ktvm::backend {
namespace {

constexpr size_t kConsoleKeepBytes = 1 << 20;
// sun_path is 108 bytes; leave room for "/qmp.sock" and the mkdtemp suffix.
constexpr size_t kMaxTempParentLength = 80;

std::string ErrnoText() { return std::strerror(errno); }

bool IsExecutableOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

std::string TempParent(const std::string& requested) {
  std::vector<std::string> candidates;
  if (!requested.empty()) candidates.push_back(requested);
  for (const char* env : {"TEST_TMPDIR", "TMPDIR"}) {
    if (const char* v = std::getenv(env); v != nullptr && *v) {
      candidates.push_back(v);
    }
  }
  candidates.push_back("/tmp");
  for (const std::string& c : candidates) {
    if (c.size() <= kMaxTempParentLength) return c;
  }
  return "/tmp";
}

absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket path %s is too long", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return absl::InternalError(absl::StrFormat("socket: %s", ErrnoText()));
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd.get(), 1) != 0) {
    return absl::InternalError(
        absl::StrFormat("listening on %s: %s", path, ErrnoText()));
  }
  return fd;
}

}  // namespace

absl::Status ValidateQemuTcgLimits(int cpus, uint64_t memory_bytes) {
  if (cpus < 1 || cpus > kQemuTcgMaxCpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--cpus %d: QEMU TCG runs 1..%d vCPUs (the limit of QEMU's pc "
        "machine)",
        cpus, kQemuTcgMaxCpus));
  }
  // QEMU's -m takes whole MiB here; anything else would be rounded down.
  if (memory_bytes % (1ULL << 20) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--memory %d bytes: QEMU TCG takes whole MiB", memory_bytes));
  }
  const uint64_t mib = memory_bytes >> 20;
  if (mib < kQemuTcgMinMemoryMib || mib > kQemuTcgMaxMemoryMib) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--memory %d MiB: QEMU TCG guests take %d MiB..%d GiB",
                        mib, kQemuTcgMinMemoryMib, kQemuTcgMaxMemoryMib >> 10));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<QemuTcgBackend>> QemuTcgBackend::Create(
    QemuTcgOptions options) {
  std::error_code ec;
  if (options.kernel.empty() ||
      !std::filesystem::is_regular_file(options.kernel, ec)) {
    return absl::NotFoundError(absl::StrFormat(
        "kernel \"%s\" does not exist or is not a file", options.kernel));
  }
  if (!options.initrd.empty() &&
      !std::filesystem::is_regular_file(options.initrd, ec)) {
    return absl::NotFoundError(absl::StrFormat(
        "initrd \"%s\" does not exist or is not a file", options.initrd));
  }
  if (absl::Status s =
          ValidateQemuTcgLimits(options.cpus, options.memory_mib << 20);
      !s.ok()) {
    return s;
  }
  if (!IsExecutableOnPath(options.qemu_binary)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s not found: install qemu-system-x86 (tools/setup.sh does)",
        options.qemu_binary));
  }
  return std::unique_ptr<QemuTcgBackend>(
      new QemuTcgBackend(std::move(options)));
}

QemuTcgBackend::QemuTcgBackend(QemuTcgOptions options)
    : options_(std::move(options)) {}

QemuTcgBackend::~QemuTcgBackend() {
  (void)Stop();
  guest_memory_.reset();
  ram_.reset();
  RemoveTempDir();
}

std::vector<std::string> QemuTcgBackend::BuildArgv() const {
  const std::string mem = absl::StrCat(options_.memory_mib, "M");
  std::vector<std::string> argv = {
      options_.qemu_binary,
      "-accel",
      "tcg,thread=multi",
      "-cpu",
      options_.cpu_model,
      "-smp",
      absl::StrCat(options_.cpus),
      "-m",
      mem,
      "-object",
      absl::StrCat("memory-backend-file,id=ram0,size=", mem,
                   ",mem-path=", temp_dir_, "/guest-ram,share=on"),
      "-machine",
      "pc,memory-backend=ram0",
      "-kernel",
      options_.kernel,
      "-append",
      options_.cmdline,
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-chardev",
      absl::StrCat("socket,id=com1,path=", temp_dir_, "/com1.sock"),
      "-serial",
      "chardev:com1",
      "-chardev",
      absl::StrCat("socket,id=com2,path=", temp_dir_, "/com2.sock"),
      "-serial",
      "chardev:com2",
      "-chardev",
      absl::StrCat("socket,id=qmp,path=", temp_dir_, "/qmp.sock"),
      "-mon",
      "chardev=qmp,mode=control",
      // The gdbstub supplies what "info registers" lacks (KERNEL_GS_BASE,
      // CR8). QEMU listens; ktvm connects only while frozen, because a
      // connection pauses a running VM.
      "-chardev",
      absl::StrCat("socket,id=gdb,path=", temp_dir_,
                   "/gdb.sock,server=on,wait=off"),
      "-gdb",
      "chardev:gdb",
  };
  if (!options_.initrd.empty()) {
    argv.push_back("-initrd");
    argv.push_back(options_.initrd);
  }
  argv.insert(argv.end(), options_.extra_args.begin(),
              options_.extra_args.end());
  return argv;
}

std::string QemuTcgBackend::QemuLogTail() const {
  std::ifstream in(temp_dir_ + "/qemu.log");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string log = buf.str();
  if (log.size() > 2000) log = log.substr(log.size() - 2000);
  while (!log.empty() && (log.back() == '\n' || log.back() == '\r')) {
    log.pop_back();
  }
  return log.empty() ? "(no output)" : log;
}

bool QemuTcgBackend::ReapQemu(bool block) {
  if (qemu_wait_status_.has_value()) return true;
  if (qemu_pid_ <= 0) return true;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(qemu_pid_, &status, block ? 0 : WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r == qemu_pid_) {
      qemu_wait_status_ = status;
      return true;
    }
    if (r < 0) {  // not our child any more; treat as gone
      qemu_wait_status_ = 0;
      return true;
    }
    return false;
  }
}

absl::StatusOr<UniqueFd> QemuTcgBackend::AcceptFrom(const UniqueFd& listener,
                                                    std::string_view what,
                                                    absl::Time deadline) {
  for (;;) {
    pollfd pfd{listener.get(), POLLIN, 0};
    const int rc = poll(&pfd, 1, 20);
    if (rc > 0) {
      UniqueFd fd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (fd.valid()) return fd;
      if (errno != EINTR && errno != EAGAIN) {
        return absl::InternalError(
            absl::StrFormat("accepting QEMU's %s: %s", what, ErrnoText()));
      }
    }
    if (ReapQemu(false)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "QEMU exited before connecting its %s: %s", what, QemuLogTail()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "QEMU did not connect its %s within %s: %s", what,
          absl::FormatDuration(options_.start_timeout), QemuLogTail()));
    }
  }
}

absl::Status QemuTcgBackend::Start(BackendCallbacks callbacks) {
  if (started_) return absl::FailedPreconditionError("backend already started");
  started_ = true;
  absl::Status s = StartLocked(std::move(callbacks));
  if (!s.ok()) {
    (void)Stop();
  }
  return s;
}

absl::Status QemuTcgBackend::StartLocked(BackendCallbacks callbacks) {
  callbacks_ = std::move(callbacks);
  std::string pattern = TempParent(options_.temp_parent) + "/ktvm-qemu-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "cannot create a temp dir from %s: %s", pattern, ErrnoText()));
  }
  temp_dir_ = pattern;
  const uint64_t ram_bytes = options_.memory_mib << 20;
  const std::string ram_path = temp_dir_ + "/guest-ram";
  {
    UniqueFd ram(
        open(ram_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!ram.valid() || ftruncate(ram.get(), ram_bytes) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("cannot create the %d-byte guest RAM file %s: %s",
                          ram_bytes, ram_path, ErrnoText()));
    }
  }
  absl::StatusOr<UniqueFd> qmp_listener = Listen(temp_dir_ + "/qmp.sock");
  if (!qmp_listener.ok()) return qmp_listener.status();
  absl::StatusOr<UniqueFd> com1_listener = Listen(temp_dir_ + "/com1.sock");
  if (!com1_listener.ok()) return com1_listener.status();
  absl::StatusOr<UniqueFd> com2_listener = Listen(temp_dir_ + "/com2.sock");
  if (!com2_listener.ok()) return com2_listener.status();
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrFormat("pipe2: %s", ErrnoText()));
  }
  wake_read_ = UniqueFd(wake[0]);
  wake_write_ = UniqueFd(wake[1]);

  argv_ = BuildArgv();
  std::vector<char*> cargv;
  for (std::string& a : argv_) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string log_path = temp_dir_ + "/qemu.log";
  const pid_t parent = getpid();
  qemu_pid_ = fork();
  if (qemu_pid_ < 0) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("fork for QEMU failed: %s", ErrnoText()));
  }
  if (qemu_pid_ == 0) {
    // Child: its own process group, so a terminal's Ctrl-C (SIGINT to the
    // foreground group) reaches only ktvm, which dumps through QEMU and then
    // stops it; QEMU in ktvm's group would quit before the dump. Still dies
    // with ktvm so no QEMU outlives a crashed or killed run.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int devnull = open("/dev/null", O_RDONLY);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "exec %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  // Also in the parent: the group exists before ktvm goes on, whichever of
  // the two runs first.
  setpgid(qemu_pid_, qemu_pid_);

  const absl::Time deadline = absl::Now() + options_.start_timeout;
  absl::StatusOr<UniqueFd> com1 = AcceptFrom(*com1_listener, "COM1", deadline);
  if (!com1.ok()) return com1.status();
  absl::StatusOr<UniqueFd> com2 = AcceptFrom(*com2_listener, "COM2", deadline);
  if (!com2.ok()) return com2.status();
  absl::StatusOr<UniqueFd> qmp_fd = AcceptFrom(*qmp_listener, "QMP", deadline);
  if (!qmp_fd.ok()) return qmp_fd.status();
  com1_ = *std::move(com1);
  com2_ = *std::move(com2);
  absl::StatusOr<QmpClient> qmp = QmpClient::Connect(
      *std::move(qmp_fd), std::max(deadline - absl::Now(), absl::Seconds(1)));
  if (!qmp.ok()) {
    return absl::Status(
        qmp.status().code(),
        absl::StrCat(qmp.status().message(), "; QEMU log: ", QemuLogTail()));
  }
  qmp_.emplace(*std::move(qmp));

  // QEMU has the RAM file open by now (QMP runs after machine creation).
  absl::StatusOr<std::unique_ptr<RamFileMapping>> ram =
      RamFileMapping::Map(ram_path, ram_bytes);
  if (!ram.ok()) return ram.status();
  ram_ = *std::move(ram);
  // Nothing needs the name any more; unlinking keeps a crashed run from
  // leaving a RAM-sized file behind.
  unlink(ram_path.c_str());
  absl::StatusOr<std::shared_ptr<const ktvm::memory::GuestMemory>> memory =
      BuildGuestMemory(*ram_);
  if (!memory.ok()) return memory.status();
  guest_memory_ = *std::move(memory);

  reader_ = std::thread([this] { ReaderLoop(); });
  return absl::OkStatus();
}

void QemuTcgBackend::ReaderLoop() {
  struct MarkDone {
    std::atomic<bool>& done;
    ~MarkDone() { done.store(true); }
  } mark_done{reader_done_};
  guest::ControlLineSplitter splitter;
  bool com1_open = true, com2_open = true;
  char buf[16384];
  while (com1_open || com2_open) {
    pollfd pfds[3] = {{com1_open ? com1_.get() : -1, POLLIN, 0},
                      {com2_open ? com2_.get() : -1, POLLIN, 0},
                      {wake_read_.get(), POLLIN, 0}};
    const int rc = poll(pfds, 3, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return;
    if (pfds[2].revents != 0) return;
    if (pfds[0].revents != 0) {
      const ssize_t n = read(com1_.get(), buf, sizeof(buf));
      if (n <= 0) {
        com1_open = false;
      } else {
        const std::string_view bytes(buf, static_cast<size_t>(n));
        {
          absl::MutexLock lock(&mu_);
          console_.append(bytes);
          if (console_.size() > 2 * kConsoleKeepBytes) {
            console_.erase(0, console_.size() - kConsoleKeepBytes);
          }
        }
        if (callbacks_.console) callbacks_.console(bytes);
      }
    }
    if (pfds[1].revents != 0) {
      const ssize_t n = read(com2_.get(), buf, sizeof(buf));
      if (n <= 0) {
        com2_open = false;
      } else {
        for (std::string& line :
             splitter.Feed(std::string_view(buf, static_cast<size_t>(n)))) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          {
            absl::MutexLock lock(&mu_);
            control_lines_.push_back(line);
          }
          if (callbacks_.control_line) callbacks_.control_line(line);
        }
      }
    }
  }
}

void QemuTcgBackend::JoinReader() {
  if (!reader_.joinable()) return;
  reader_.join();
}

absl::Status QemuTcgBackend::Freeze() {
  if (!qmp_.has_value() || ReapQemu(false)) {
    return absl::FailedPreconditionError("cannot freeze: QEMU is not running");
  }
  absl::StatusOr<google::protobuf::Value> r = qmp_->Execute("stop");
  if (!r.ok()) return r.status();
  frozen_ = true;
  return absl::OkStatus();
}

absl::Status QemuTcgBackend::Resume() {
  if (!qmp_.has_value() || ReapQemu(false)) {
    return absl::FailedPreconditionError("cannot resume: QEMU is not running");
  }
  absl::StatusOr<google::protobuf::Value> r = qmp_->Execute("cont");
  if (!r.ok()) return r.status();
  frozen_ = false;
  return absl::OkStatus();
}

absl::Status QemuTcgBackend::DumpGuestMemory(const std::string& path) {
  if (!qmp_.has_value() || ReapQemu(false)) {
    return absl::FailedPreconditionError("cannot dump: QEMU is not running");
  }
  // Synchronous ("detach": false): QEMU writes the whole ELF before replying.
  absl::StatusOr<google::protobuf::Value> r =
      qmp_->Execute("dump-guest-memory",
                    absl::StrCat("{\"paging\": false, \"protocol\": ",
                                 JsonQuote(absl::StrCat("file:", path)), "}"),
                    absl::Seconds(120));
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<std::vector<ktvm::report::VcpuState>>
QemuTcgBackend::ReadRegisters() {
  if (!frozen_) {
    return absl::FailedPreconditionError(
        "registers are read from a frozen guest: call Freeze() first");
  }
  if (!qmp_.has_value() || ReapQemu(false)) {
    return absl::FailedPreconditionError("QEMU is not running");
  }
  absl::StatusOr<std::string> text =
      qmp_->HumanMonitorCommand("info registers -a");
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<ParsedCpuRegisters>> parsed =
      ParseInfoRegisters(*text);
  if (!parsed.ok()) return parsed.status();

  // APIC ids are CPU properties, not in "info registers".
  std::vector<std::string> qom_paths(options_.cpus);
  if (absl::StatusOr<google::protobuf::Value> cpus =
          qmp_->Execute("query-cpus-fast");
      cpus.ok()) {
    for (const auto& cpu : cpus->list_value().values()) {
      const auto& f = cpu.struct_value().fields();
      auto idx = f.find("cpu-index");
      auto path = f.find("qom-path");
      if (idx == f.end() || path == f.end()) continue;
      const int i = static_cast<int>(idx->second.number_value());
      if (i >= 0 && i < options_.cpus) {
        qom_paths[i] = path->second.string_value();
      }
    }
  }

  // KERNEL_GS_BASE and CR8 through the gdbstub (best effort).
  std::vector<std::optional<GdbX86Registers>> gdb_regs(options_.cpus);
  std::string gdb_error = "not connected";
  if (!gdb_.has_value()) {
    absl::StatusOr<GdbRegisterClient> gdb =
        GdbRegisterClient::Connect(temp_dir_ + "/gdb.sock", absl::Seconds(2));
    if (gdb.ok()) {
      gdb_.emplace(*std::move(gdb));
    } else {
      gdb_error = std::string(gdb.status().message());
    }
  }
  if (gdb_.has_value()) {
    absl::StatusOr<std::vector<std::string>> threads = gdb_->Threads();
    if (!threads.ok()) gdb_error = std::string(threads.status().message());
    for (const std::string& t : threads.value_or(std::vector<std::string>{})) {
      const long id = std::strtol(t.c_str(), nullptr, 16);
      if (id < 1 || id > options_.cpus) continue;
      absl::StatusOr<GdbX86Registers> r = gdb_->ReadRegisters(t);
      if (r.ok()) {
        gdb_regs[id - 1] = *r;
      } else {
        gdb_error = std::string(r.status().message());
      }
    }
  }

  std::vector<ktvm::report::VcpuState> states(options_.cpus);
  for (int i = 0; i < options_.cpus; ++i) {
    states[i].set_index(i);
    states[i].set_parked(false);
    states[i].set_note("QEMU printed no registers for this CPU");
  }
  for (ParsedCpuRegisters& cpu : *parsed) {
    if (cpu.cpu_index < 0 || cpu.cpu_index >= options_.cpus) continue;
    ktvm::report::VcpuState& st = states[cpu.cpu_index];
    st.set_parked(true);
    const int i = cpu.cpu_index;
    const bool have_gdb = gdb_regs[i].has_value();
    std::string note =
        have_gdb ? "QEMU TCG (QMP stop, info registers, gdbstub): lstar and "
                   "apic_base are not available"
                 : "QEMU TCG (QMP stop, info registers): kernel_gs_base, "
                   "lstar, cr8 and apic_base are not available (gdbstub: " +
                       gdb_error + ")";
    if (cpu.halted) note += "; vCPU halted";
    if (!qom_paths[i].empty()) {
      absl::StatusOr<google::protobuf::Value> apic = qmp_->Execute(
          "qom-get", absl::StrCat("{\"path\":", JsonQuote(qom_paths[i]),
                                  ",\"property\":\"apic-id\"}"));
      if (apic.ok()) {
        cpu.regs.set_apic_id(static_cast<uint32_t>(apic->number_value()));
      } else {
        note +=
            "; apic-id unavailable: " + std::string(apic.status().message());
      }
    }
    if (have_gdb) {
      const GdbX86Registers& g = *gdb_regs[i];
      cpu.regs.set_kernel_gs_base(g.kernel_gs_base);
      cpu.regs.set_cr8(g.cr8);
      if (g.rip != cpu.regs.rip() || g.cr3 != cpu.regs.cr3()) {
        note += absl::StrFormat(
            "; gdbstub and info registers disagree (rip %#x vs %#x)", g.rip,
            cpu.regs.rip());
      }
    }
    st.set_note(note);
    *st.mutable_x86_64() = std::move(cpu.regs);
  }
  return states;
}

GuestExit QemuTcgBackend::ExitFromEvents() {
  GuestExit exit;
  std::string reason;
  if (qmp_.has_value()) {
    qmp_->PollEvents();
    for (const auto& ev : qmp_->TakeEvents()) {
      const auto& f = ev.fields();
      auto name = f.find("event");
      if (name == f.end() || name->second.string_value() != "SHUTDOWN") {
        continue;
      }
      auto data = f.find("data");
      if (data == f.end()) continue;
      const auto& df = data->second.struct_value().fields();
      if (auto r = df.find("reason"); r != df.end()) {
        reason = r->second.string_value();
      }
    }
  }
  const int status = qemu_wait_status_.value_or(0);
  const std::string how =
      WIFSIGNALED(status)
          ? absl::StrFormat("killed by signal %d", WTERMSIG(status))
          : absl::StrFormat("exited with status %d", WEXITSTATUS(status));
  if (reason == "guest-shutdown") {
    exit.reason = GuestExit::Reason::kPoweroff;
  } else if (reason == "guest-reset" || reason == "guest-panic") {
    exit.reason = GuestExit::Reason::kReset;
  } else if (reason == "host-qmp-quit" || reason == "host-signal" ||
             stop_requested_) {
    exit.reason = GuestExit::Reason::kStopped;
  } else {
    exit.reason = GuestExit::Reason::kCrashed;
  }
  exit.detail = absl::StrFormat("QEMU %s, shutdown reason \"%s\"", how,
                                reason.empty() ? "none" : reason);
  if (exit.reason == GuestExit::Reason::kCrashed) {
    exit.detail += "; log: " + QemuLogTail();
  }
  return exit;
}

absl::StatusOr<GuestExit> QemuTcgBackend::WaitForExit(absl::Duration timeout) {
  if (exit_.has_value()) return *exit_;
  if (qemu_pid_ <= 0) {
    return absl::FailedPreconditionError("the guest was never started");
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (!ReapQemu(false)) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "guest still running after %s", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  // The sockets hit EOF when QEMU exits: the reader drains them and ends.
  JoinReader();
  exit_ = ExitFromEvents();
  frozen_ = false;
  return *exit_;
}

absl::Status QemuTcgBackend::Stop() {
  if (qemu_pid_ > 0 && !ReapQemu(false)) {
    stop_requested_ = true;
    if (qmp_.has_value()) {
      (void)qmp_->Execute("quit", "", absl::Seconds(2));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(3);
    while (!ReapQemu(false) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (!ReapQemu(false)) {
      kill(qemu_pid_, SIGKILL);
      ReapQemu(true);
    }
  }
  if (wake_write_.valid() && reader_.joinable()) {
    // EOF normally ends the reader once QEMU is gone (after draining what
    // QEMU wrote last); the wake pipe covers a socket that never closes.
    const absl::Time deadline = absl::Now() + absl::Seconds(1);
    while (!reader_done_.load() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    const char c = 'x';
    (void)!write(wake_write_.get(), &c, 1);
  }
  JoinReader();
  if (qemu_pid_ > 0 && !exit_.has_value()) {
    exit_ = ExitFromEvents();
    if (stop_requested_) exit_->reason = GuestExit::Reason::kStopped;
  }
  frozen_ = false;
  return absl::OkStatus();
}

const ktvm::memory::GuestMemory& QemuTcgBackend::memory() const {
  if (guest_memory_ == nullptr) {
    // Not a recoverable situation for a caller holding a reference: say
    // plainly why instead of dereferencing null.
    std::fprintf(stderr,
                 "ktvm: QemuTcgBackend::memory() called before a successful "
                 "Start()\n");
    std::abort();
  }
  return *guest_memory_;
}

std::string QemuTcgBackend::ConsoleTail(size_t max_bytes) const {
  absl::MutexLock lock(&mu_);
  if (console_.size() <= max_bytes) return console_;
  return console_.substr(console_.size() - max_bytes);
}

GuestHostThreads QemuTcgBackend::HostThreads() const {
  // Every QEMU thread, not only "CPU n/TCG": the main loop's timers and the
  // vCPUs share the guest's clock, and a reaped pid may already be reused.
  if (qemu_pid_ <= 0 || qemu_wait_status_.has_value()) return {};
  return {.pid = qemu_pid_, .tids = {}, .every_thread = true};
}

std::vector<std::string> QemuTcgBackend::ControlLines() const {
  absl::MutexLock lock(&mu_);
  return control_lines_;
}

void QemuTcgBackend::RemoveTempDir() {
  if (temp_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(temp_dir_, ec);
  temp_dir_.clear();
}

}  // namespace ktvm::backend

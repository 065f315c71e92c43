// ktvm's guest init (PID 1 in the initramfs). Mounts the kernel filesystems,
// starts the scheduler, waits until sched_ext reports it enabled, runs the
// workload, reports every step on COM2 (protocol: vmm/guest/README.md) and
// powers the machine off. Linked statically with libc/libstdc++ only, and it
// never exits: PID 1 exiting would panic the kernel and hide the result.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/guest/control_format.h"

namespace ktvm::guest {
namespace {

int g_control_fd = -1;

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

int64_t ClockMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t MonotonicMs() { return ClockMs(CLOCK_MONOTONIC); }

// Every event carries t_ms, the guest's time since boot, so the host can
// place it on the guest's own timeline.
void ReportFields(std::string_view event, std::vector<ControlField> f) {
  f.push_back({"t_ms", std::to_string(ClockMs(CLOCK_BOOTTIME))});
  const std::string line = FormatControlLine(event, f);
  if (g_control_fd >= 0) WriteAll(g_control_fd, line);
  // Mirror on the console so a human reading COM1 sees the lifecycle too.
  WriteAll(STDOUT_FILENO, "ktvm-init: " + line);
}

void Report(std::string_view event,
            std::initializer_list<ControlField> f = {}) {
  ReportFields(event, std::vector<ControlField>(f));
}

void SleepMs(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

[[noreturn]] void PowerOff() {
  Report(kEventPoweroff);
  sync();
  if (g_control_fd >= 0) tcdrain(g_control_fd);
  reboot(RB_POWER_OFF);
  // reboot() only returns on failure; there is nothing left to do but wait.
  for (;;) pause();
}

[[noreturn]] void Fatal(const std::string& msg) {
  Report(kEventInitError, {{"msg", msg}});
  PowerOff();
}

void OpenControlChannel() {
  g_control_fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (g_control_fd < 0) {
    std::fprintf(stderr, "ktvm-init: cannot open /dev/ttyS1: %s\n",
                 std::strerror(errno));
    return;
  }
  termios tio;
  if (tcgetattr(g_control_fd, &tio) == 0) {
    cfmakeraw(&tio);
    cfsetspeed(&tio, B115200);
    tcsetattr(g_control_fd, TCSANOW, &tio);
  }
}

void MountAll() {
  struct Mount {
    const char* source;
    const char* target;
    const char* type;
  };
  // Order matters: later targets live inside earlier mounts.
  static constexpr Mount kMounts[] = {
      {"proc", "/proc", "proc"},
      {"sysfs", "/sys", "sysfs"},
      {"devtmpfs", "/dev", "devtmpfs"},
      {"tmpfs", "/tmp", "tmpfs"},
      {"tmpfs", "/run", "tmpfs"},
      {"bpf", "/sys/fs/bpf", "bpf"},
      {"debugfs", "/sys/kernel/debug", "debugfs"},
      {"tracefs", "/sys/kernel/tracing", "tracefs"},
      {"cgroup2", "/sys/fs/cgroup", "cgroup2"},
  };
  for (const Mount& m : kMounts) {
    mkdir(m.target, 0755);
    if (mount(m.source, m.target, m.type, 0, nullptr) != 0 && errno != EBUSY) {
      Report(kEventMountFailed, {{"target", m.target},
                                 {"type", m.type},
                                 {"errno", std::to_string(errno)},
                                 {"error", std::strerror(errno)}});
    }
  }
  Report(kEventMountsDone);
}

struct Config {
  std::string scheduler;
  std::vector<std::string> args;
  std::string run;
  int enable_timeout_ms = 20000;
  int workload_timeout_ms = 0;
};

// Applies one "key=value" setting (value percent-encoded). `source` names
// where it came from for error messages.
void ApplySetting(std::string_view key, std::string_view encoded,
                  std::string_view source, Config& config,
                  bool& args_from_cmdline) {
  std::string value;
  if (!DecodeControlValueTo(encoded, &value)) {
    Fatal("bad %XX escape in " + std::string(source) + " setting " +
          std::string(key));
  }
  if (key == "scheduler") {
    config.scheduler = value;
  } else if (key == "arg") {
    // Arguments on the kernel command line replace the config file's.
    if (source == "/proc/cmdline" && !args_from_cmdline) {
      config.args.clear();
      args_from_cmdline = true;
    }
    config.args.push_back(value);
  } else if (key == "run") {
    config.run = value;
  } else if (key == "enable_timeout_ms") {
    config.enable_timeout_ms = std::atoi(value.c_str());
  } else if (key == "workload_timeout_ms") {
    config.workload_timeout_ms = std::atoi(value.c_str());
  }
}

// /ktvm/config first, then "ktvm.<key>=<value>" words of the kernel command
// line, which override it (same keys and encoding).
Config ReadConfig() {
  Config config;
  bool args_from_cmdline = false;
  if (FILE* f = std::fopen("/ktvm/config", "re"); f != nullptr) {
    char* line = nullptr;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
      std::string_view l(line, static_cast<size_t>(len));
      while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) {
        l.remove_suffix(1);
      }
      if (l.empty() || l[0] == '#') continue;
      const size_t eq = l.find('=');
      if (eq == std::string_view::npos) continue;
      ApplySetting(l.substr(0, eq), l.substr(eq + 1), "/ktvm/config", config,
                   args_from_cmdline);
    }
    std::free(line);
    std::fclose(f);
  }
  std::string cmdline;
  if (FILE* f = std::fopen("/proc/cmdline", "re"); f != nullptr) {
    char buf[4096];
    const size_t n = std::fread(buf, 1, sizeof(buf), f);
    cmdline.assign(buf, n);
    std::fclose(f);
  }
  size_t pos = 0;
  while (pos < cmdline.size()) {
    size_t end = cmdline.find_first_of(" \n", pos);
    if (end == std::string::npos) end = cmdline.size();
    const std::string_view word =
        std::string_view(cmdline).substr(pos, end - pos);
    pos = end + 1;
    constexpr std::string_view kPrefix = "ktvm.";
    if (word.substr(0, kPrefix.size()) != kPrefix) continue;
    const size_t eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    ApplySetting(word.substr(kPrefix.size(), eq - kPrefix.size()),
                 word.substr(eq + 1), "/proc/cmdline", config,
                 args_from_cmdline);
  }
  return config;
}

// Exit status in the shell's convention: the code, or 128 + signal.
std::vector<ControlField> StatusFields(int wstatus) {
  if (WIFSIGNALED(wstatus)) {
    return {{"status", std::to_string(128 + WTERMSIG(wstatus))},
            {"signal", std::to_string(WTERMSIG(wstatus))}};
  }
  return {{"status", std::to_string(WEXITSTATUS(wstatus))}};
}

void ReportWithStatus(std::string_view event, int wstatus,
                      std::string_view reason = "") {
  std::vector<ControlField> f = StatusFields(wstatus);
  if (!reason.empty()) f.push_back({"reason", std::string(reason)});
  ReportFields(event, std::move(f));
}

pid_t Spawn(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid > 0) setpgid(pid, pid);  // also here: no race with kill(-pid)
  if (pid != 0) return pid;
  // Child: its own process group so a timeout can kill the whole workload.
  setpgid(0, 0);
  std::vector<char*> cargv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  execv(cargv[0], cargv.data());
  std::fprintf(stderr, "ktvm-init: exec %s: %s\n", cargv[0],
               std::strerror(errno));
  _exit(127);
}

std::string ReadSmallFile(const char* path) {
  char buf[256];
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool FileExists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

// Reaps any child (PID 1 adopts orphans). Returns the pid reaped, 0 if none
// was ready, -1 if there are no children at all.
pid_t ReapOne(int* wstatus, bool block) {
  for (;;) {
    const pid_t pid = waitpid(-1, wstatus, block ? 0 : WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    return pid;
  }
}

class Init {
 public:
  void Run() {
    OpenControlChannel();
    Report(kEventInitStarted);
    MountAll();
    setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
    setenv("HOME", "/root", 1);
    if (FileExists("/bin/busybox")) {
      int status = 0;
      const pid_t pid = Spawn({"/bin/busybox", "--install", "-s", "/bin"});
      if (pid > 0) waitpid(pid, &status, 0);
    }
    config_ = ReadConfig();
    if (!config_.scheduler.empty() && !StartScheduler()) {
      StopScheduler();
      PowerOff();
    }
    if (!config_.run.empty()) RunWorkload();
    StopScheduler();
    PowerOff();
  }

 private:
  // Notes the scheduler's exit if `pid` is the scheduler.
  void OnReaped(pid_t pid, int wstatus) {
    if (pid == scheduler_pid_) {
      scheduler_pid_ = -1;
      ReportWithStatus(kEventSchedulerExit, wstatus);
    }
  }

  bool StartScheduler() {
    std::vector<std::string> argv = {config_.scheduler};
    argv.insert(argv.end(), config_.args.begin(), config_.args.end());
    const int64_t start = MonotonicMs();
    scheduler_pid_ = Spawn(argv);
    if (scheduler_pid_ < 0) Fatal("fork for the scheduler failed");
    Report(kEventSchedulerStarted, {{"pid", std::to_string(scheduler_pid_)}});
    for (;;) {
      const std::string state = ReadSmallFile("/sys/kernel/sched_ext/state");
      if (state == "enabled") {
        Report(kEventSchedulerEnabled,
               {{"ops", ReadSmallFile("/sys/kernel/sched_ext/root/ops")},
                {"ms", std::to_string(MonotonicMs() - start)}});
        return true;
      }
      int wstatus = 0;
      const pid_t pid = ReapOne(&wstatus, false);
      if (pid == scheduler_pid_) {
        scheduler_pid_ = -1;
        ReportWithStatus(kEventSchedulerFailed, wstatus,
                         "exited before sched_ext was enabled");
        return false;
      }
      if (MonotonicMs() - start > config_.enable_timeout_ms) {
        Report(kEventSchedulerFailed,
               {{"reason", "timeout waiting for sched_ext state enabled"},
                {"state", state},
                {"timeout_ms", std::to_string(config_.enable_timeout_ms)}});
        return false;
      }
      SleepMs(5);
    }
  }

  void RunWorkload() {
    std::vector<std::string> argv;
    if (FileExists("/bin/sh")) {
      argv = {"/bin/sh", "-c", config_.run};
    } else {
      // No shell: split on spaces and run the program directly.
      size_t pos = 0;
      while (pos < config_.run.size()) {
        const size_t end = config_.run.find(' ', pos);
        const std::string word = config_.run.substr(
            pos, end == std::string::npos ? std::string::npos : end - pos);
        if (!word.empty()) argv.push_back(word);
        if (end == std::string::npos) break;
        pos = end + 1;
      }
    }
    const int64_t start = MonotonicMs();
    const pid_t workload = Spawn(argv);
    if (workload < 0) Fatal("fork for the workload failed");
    Report(kEventWorkloadStarted, {{"pid", std::to_string(workload)}});
    bool killed = false;
    for (;;) {
      int wstatus = 0;
      const pid_t pid = ReapOne(&wstatus, false);
      if (pid == workload) {
        ReportWithStatus(kEventWorkloadExit, wstatus,
                         killed ? "workload timeout" : "");
        return;
      }
      if (pid > 0) {
        OnReaped(pid, wstatus);
        continue;
      }
      if (!killed && config_.workload_timeout_ms > 0 &&
          MonotonicMs() - start > config_.workload_timeout_ms) {
        kill(-workload, SIGKILL);
        killed = true;
      }
      SleepMs(5);
    }
  }

  void StopScheduler() {
    if (scheduler_pid_ <= 0) return;
    kill(scheduler_pid_, SIGINT);
    const int64_t start = MonotonicMs();
    while (scheduler_pid_ > 0) {
      int wstatus = 0;
      const pid_t pid = ReapOne(&wstatus, false);
      if (pid > 0) {
        OnReaped(pid, wstatus);
        continue;
      }
      if (pid < 0) break;
      if (MonotonicMs() - start > 3000) kill(scheduler_pid_, SIGKILL);
      SleepMs(5);
    }
  }

  Config config_;
  pid_t scheduler_pid_ = -1;
};

}  // namespace
}  // namespace ktvm::guest

int main() {
  ktvm::guest::Init init;
  init.Run();
  return 0;  // not reached: Run() powers off
}

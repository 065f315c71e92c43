#include "vmm/ktvm_child.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace ktvm::vmm::testing {
namespace {

// Fields after the parenthesised comm in /proc/<pid>/stat: state is [0],
// ppid [1]. The comm itself may hold spaces and parentheses.
std::vector<std::string> StatFieldsAfterComm(pid_t pid) {
  std::ifstream in(absl::StrFormat("/proc/%d/stat", pid));
  std::stringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  const size_t close = stat.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(stat.substr(close + 1));
  for (std::string f; rest >> f && fields.size() < 4;) fields.push_back(f);
  return fields;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KtvmChild>> KtvmChild::Start(
    const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no command");
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrFormat("pipe2: %s", strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError(absl::StrFormat("fork: %s", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execv(raw[0], raw.data());
    _exit(127);
  }
  // Also in the parent, so the group exists before the caller signals it.
  setpgid(pid, pid);
  close(out[1]);
  std::fprintf(stderr, "started pid %d: %s\n", pid,
               absl::StrJoin(argv, " ").c_str());
  return std::unique_ptr<KtvmChild>(new KtvmChild(pid, out[0]));
}

KtvmChild::KtvmChild(pid_t pid, int output_fd)
    : pid_(pid), output_fd_(output_fd), start_time_(absl::Now()) {
  reader_ = std::thread([this] { ReadOutput(); });
}

KtvmChild::~KtvmChild() {
  if (!wait_status_.has_value()) {
    kill(-pid_, SIGKILL);
    (void)Wait(absl::Seconds(10));
  }
  stop_reading_.store(true);
  if (reader_.joinable()) reader_.join();
  close(output_fd_);
}

void KtvmChild::ReadOutput() {
  char buf[16384];
  while (!stop_reading_.load()) {
    pollfd p{output_fd_, POLLIN, 0};
    const int rc = poll(&p, 1, 50);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) break;
    if (rc == 0) continue;
    const ssize_t n = read(output_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    output_.append(buf, static_cast<size_t>(n));
    read_times_.emplace_back(output_.size(), now);
  }
  absl::MutexLock lock(&mu_);
  output_ended_ = true;
}

absl::StatusOr<absl::Time> KtvmChild::WaitForOutput(absl::string_view text,
                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  size_t found = std::string::npos;
  for (;;) {
    found = output_.find(text.data(), 0, text.size());
    if (found != std::string::npos || output_ended_ ||
        absl::Now() >= deadline) {
      break;
    }
    mu_.Unlock();
    absl::SleepFor(absl::Milliseconds(5));
    mu_.Lock();
  }
  if (found == std::string::npos) {
    if (output_ended_) {
      return absl::FailedPreconditionError(
          absl::StrFormat("pid %d's output ended without \"%s\"", pid_, text));
    }
    return absl::DeadlineExceededError(
        absl::StrFormat("no \"%s\" from pid %d within %s", text, pid_,
                        absl::FormatDuration(timeout)));
  }
  for (const auto& [end, when] : read_times_) {
    if (end >= found + text.size()) return when;
  }
  return absl::InternalError("output without a read time");
}

bool KtvmChild::SignalGroup(int signo) const { return kill(-pid_, signo) == 0; }

bool KtvmChild::Signal(int signo) const { return kill(pid_, signo) == 0; }

absl::StatusOr<int> KtvmChild::Wait(absl::Duration timeout) {
  if (wait_status_.has_value()) return *wait_status_;
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      exit_time_ = absl::Now();
      wait_status_ = r == pid_ ? status : -1;
      break;
    }
    if (absl::Now() >= deadline && !timed_out) {
      timed_out = true;
      kill(-pid_, SIGKILL);
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  // The rest of the output, unless something else holds the pipe open.
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&output_ended_), absl::Seconds(5));
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrFormat("pid %d still running after %s; killed", pid_,
                        absl::FormatDuration(timeout)));
  }
  return *wait_status_;
}

std::string KtvmChild::Output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

int ExitCodeOf(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    const std::vector<std::string> f = StatFieldsAfterComm(pid);
    int ppid = 0;
    if (f.size() >= 2 && f[0] != "Z" && absl::SimpleAtoi(f[1], &ppid) &&
        ppid == parent) {
      children.push_back(pid);
    }
  }
  closedir(proc);
  return children;
}

bool IsRunning(pid_t pid) {
  const std::vector<std::string> f = StatFieldsAfterComm(pid);
  return !f.empty() && f[0] != "Z" && f[0] != "X";
}

}  // namespace ktvm::vmm::testing

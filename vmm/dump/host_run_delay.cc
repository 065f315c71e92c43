#include "vmm/dump/host_run_delay.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "vmm/backend/unique_fd.h"

namespace ktvm::dump {
namespace {

absl::StatusOr<std::vector<int>> ListThreads(int pid) {
  const std::string dir = absl::StrFormat("/proc/%d/task", pid);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrFormat("cannot list %s", dir));
  }
  std::vector<int> tids;
  while (const dirent* e = ::readdir(d)) {
    int tid = 0;
    if (absl::SimpleAtoi(e->d_name, &tid) && tid > 0) tids.push_back(tid);
  }
  ::closedir(d);
  return tids;
}

// Field 2 of "run_ns run_delay_ns timeslices".
std::optional<int64_t> ReadRunDelay(int pid, int tid) {
  const std::string path =
      absl::StrFormat("/proc/%d/task/%d/schedstat", pid, tid);
  const backend::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[128];
  const ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  int64_t run_ns = 0;
  int64_t delay = 0;
  if (std::sscanf(buf, "%" SCNd64 " %" SCNd64, &run_ns, &delay) != 2 ||
      delay < 0) {
    return std::nullopt;
  }
  return delay;
}

}  // namespace

absl::StatusOr<RunDelaySample> SampleRunDelay(
    const backend::GuestHostThreads& threads) {
  if (threads.pid <= 0) {
    return absl::FailedPreconditionError(
        "the guest's host threads are unknown");
  }
  if (!threads.every_thread && threads.tids.empty()) {
    return absl::FailedPreconditionError("no guest thread runs yet");
  }
  std::vector<int> tids = threads.tids;
  if (threads.every_thread) {
    absl::StatusOr<std::vector<int>> all = ListThreads(threads.pid);
    if (!all.ok()) return all.status();
    tids = *std::move(all);
  }
  RunDelaySample sample;
  for (const int tid : tids) {
    if (std::optional<int64_t> d = ReadRunDelay(threads.pid, tid)) {
      sample[tid] = *d;
    }
  }
  if (sample.empty()) {
    return absl::UnavailableError(
        absl::StrFormat("no /proc/%d/task/*/schedstat readable (kernel without "
                        "CONFIG_SCHED_INFO, or the process ended)",
                        threads.pid));
  }
  return sample;
}

absl::Duration MaxRunDelayGrowth(const RunDelaySample& before,
                                 const RunDelaySample& after) {
  int64_t most = 0;
  for (const auto& [tid, delay] : after) {
    const auto it = before.find(tid);
    if (it != before.end()) most = std::max(most, delay - it->second);
  }
  return absl::Nanoseconds(most);
}

}  // namespace ktvm::dump

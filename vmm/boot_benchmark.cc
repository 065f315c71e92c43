// Boot latency and memory of the ktvm binary with the test guest under KVM:
// process start -> the guest's first instruction (its first write to the
// boot-timer port) and -> the first COM1 byte; VMM resident memory beyond
// the guest RAM it touched. Anchor: Firecracker starts in ~12 ms with at
// most 5 MiB of overhead.
//
//   bazel run -c opt //vmm:boot_benchmark
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"

extern char** environ;

namespace {

constexpr char kKtvm[] = "vmm/ktvm";
constexpr char kKtvmStatic[] = "vmm/ktvm_static";
constexpr char kGuest[] = "tests/test_guest/test_guest.bzImage";

struct Stats {
  int64_t first_instruction_ns = 0;
  int64_t first_console_ns = 0;
  int64_t vmm_rss = 0;
  int64_t guest_resident = 0;
  int64_t rss_file = 0;
  int exit_code = -1;
};

bool RunOnce(const char* ktvm, int cpus, int64_t* start_ns, Stats* stats,
             std::string* log) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  const std::string cpus_flag = "--cpus=" + std::to_string(cpus);
  std::vector<const char*> argv = {ktvm,
                                   "--kernel",
                                   kGuest,
                                   "--accel=kvm",
                                   "--print_stats",
                                   "--memory=64M",
                                   cpus_flag.c_str(),
                                   "--ap_start=vmm",
                                   "--cmdline=ktvm_smp=vmm",
                                   nullptr};
  pid_t pid;
  *start_ns = absl::GetCurrentTimeNanos();
  const int rc = posix_spawn(&pid, ktvm, &actions, nullptr,
                             const_cast<char* const*>(argv.data()), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    return false;
  }
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) err.append(buf, n);
  close(pipe_fds[0]);
  *log = err;
  int status = 0;
  waitpid(pid, &status, 0);
  stats->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const size_t at = err.find("ktvm-stats: ");
  if (at == std::string::npos) return false;
  const std::string line = err.substr(at, err.find('\n', at) - at);
  for (absl::string_view kv : absl::StrSplit(line, ' ')) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
    int64_t v = 0;
    if (!absl::SimpleAtoi(p.second, &v)) continue;
    if (p.first == "first_instruction_ns") stats->first_instruction_ns = v;
    if (p.first == "first_console_ns") stats->first_console_ns = v;
    if (p.first == "vmm_rss_bytes") stats->vmm_rss = v;
    if (p.first == "guest_resident_bytes") stats->guest_resident = v;
    if (p.first == "rss_file_bytes") stats->rss_file = v;
  }
  return stats->exit_code == 0 && stats->first_instruction_ns > 0;
}

void ProcessStartToGuest(benchmark::State& state, const char* ktvm) {
  const int cpus = static_cast<int>(state.range(0));
  double first_insn_ms = 0, first_console_ms = 0, overhead_mib = 0;
  double total_ms = 0, file_mib = 0;
  int runs = 0;
  for (auto _ : state) {
    int64_t start_ns = 0;
    Stats stats;
    const int64_t t0 = absl::GetCurrentTimeNanos();
    std::string log;
    if (!RunOnce(ktvm, cpus, &start_ns, &stats, &log)) {
      std::fprintf(stderr, "ktvm run failed:\n%s\n", log.c_str());
      state.SkipWithError("ktvm run failed (see its output above)");
      return;
    }
    const double first_insn = (stats.first_instruction_ns - start_ns) / 1e6;
    state.SetIterationTime(first_insn / 1e3);
    first_insn_ms += first_insn;
    first_console_ms += (stats.first_console_ns - start_ns) / 1e6;
    overhead_mib += (stats.vmm_rss - stats.guest_resident) / 1048576.0;
    // Mapped files: the binary and its shared libraries (Debian's Abseil
    // and protobuf are dozens of .so files).
    file_mib += stats.rss_file / 1048576.0;
    total_ms += (absl::GetCurrentTimeNanos() - t0) / 1e6;
    ++runs;
  }
  state.counters["first_insn_ms"] = first_insn_ms / runs;
  state.counters["first_com1_ms"] = first_console_ms / runs;
  state.counters["whole_run_ms"] = total_ms / runs;
  state.counters["of_which_file_backed_MiB"] = file_mib / runs;
  state.counters["vmm_rss_beyond_guest_MiB"] = overhead_mib / runs;
}
// ktvm as Bazel links it by default (Debian's shared Abseil/protobuf).
void BM_ProcessStartToGuest(benchmark::State& state) {
  ProcessStartToGuest(state, kKtvm);
}
// //vmm:ktvm_static: no dynamic loading, no shared-library pages.
void BM_ProcessStartToGuestStatic(benchmark::State& state) {
  ProcessStartToGuest(state, kKtvmStatic);
}
BENCHMARK(BM_ProcessStartToGuest)
    ->Arg(1)
    ->Arg(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(20);
BENCHMARK(BM_ProcessStartToGuestStatic)
    ->Arg(1)
    ->Arg(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(20);

}  // namespace

int main(int argc, char** argv) {
  // Under `bazel run` ktvm would resolve the guest's relative runfiles path
  // against the directory bazel was invoked from.
  unsetenv("BUILD_WORKING_DIRECTORY");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

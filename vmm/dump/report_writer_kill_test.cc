// "No lost reports" (issue 8): a writer SIGKILLed at random points leaves at
// the report path either nothing or a complete report from some earlier
// write, never a truncated or mixed one.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dump {
namespace {

using ktvm::report::FailureDumpReport;

constexpr size_t kArenaBytes = 4 << 20;

// Every byte of the report depends on `generation`, so a file stitched from
// two writes, or cut short, fails the consistency check even if it parses.
FailureDumpReport ReportForGeneration(uint64_t generation) {
  FailureDumpReport r;
  r.mutable_header()->set_format_version(ktvm::report::FORMAT_VERSION_1);
  r.mutable_header()->set_ktvm_version(absl::StrCat(generation));
  auto* arena = r.add_bpf_maps()->mutable_arena();
  for (int page = 0; page < 4; ++page) {
    auto* p = arena->add_pages();
    p->set_user_addr(page * 4096);
    p->set_data(std::string(kArenaBytes / 4, static_cast<char>(generation)));
  }
  r.mutable_trigger()->set_summary(absl::StrCat("generation ", generation));
  return r;
}

bool IsConsistent(const FailureDumpReport& r) {
  uint64_t generation = 0;
  if (!absl::SimpleAtoi(r.header().ktvm_version(), &generation)) return false;
  if (r.trigger().summary() != absl::StrCat("generation ", generation)) {
    return false;
  }
  if (r.bpf_maps_size() != 1 || r.bpf_maps(0).arena().pages_size() != 4) {
    return false;
  }
  for (const auto& p : r.bpf_maps(0).arena().pages()) {
    if (p.data() !=
        std::string(kArenaBytes / 4, static_cast<char>(generation))) {
      return false;
    }
  }
  return true;
}

int CountTempFiles(const std::string& dir) {
  int count = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    if (absl::StrContains(e->d_name, ".tmp-")) ++count;
  }
  closedir(d);
  return count;
}

// What a killed writer left behind (multi-MiB each): removed after each
// kill so the directory and the disk do not fill up over hundreds of kills.
void RemoveTempFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    if (absl::StrContains(e->d_name, ".tmp-")) {
      unlink(absl::StrCat(dir, "/", e->d_name).c_str());
    }
  }
  closedir(d);
}

TEST(ReportWriterKillTest, SigkillNeverLeavesATruncatedReport) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/kill");
  mkdir(dir.c_str(), 0755);
  std::mt19937 rng(12345);
  // Kill delays scale with how long one write takes on this machine now
  // (fsync under load varies 10x), so kills land before, inside and after
  // writes whatever the load.
  // Each format's second write is timed (the first carries one-time costs)
  // and the slower one sets the scale: JSON is several times slower than
  // binary, most of all under sanitizers.
  int64_t slowest_us = 1000;
  for (ReportFormat format : {ReportFormat::kBinary, ReportFormat::kJson}) {
    for (int round = 0; round < 2; ++round) {
      const absl::Time start = absl::Now();
      ASSERT_TRUE(WriteReportAtomically(ReportForGeneration(1 + round),
                                        dir + "/probe", format)
                      .ok());
      if (round == 1) {
        slowest_us = std::max<int64_t>(
            slowest_us, absl::ToInt64Microseconds(absl::Now() - start));
      }
    }
  }
  const int write_us = static_cast<int>(slowest_us);
  std::printf("one write takes %d us\n", write_us);
  std::fflush(stdout);
  // Kills must land inside writes (temp file on disk) often enough for the
  // test to mean something. How often a random delay does that depends on
  // how much of a write is serialisation before the temp file exists (most
  // of it under TSan), so every other kill is aimed: it waits until the
  // child's temp file appears and strikes a random few microseconds later.
  // The loop runs until enough kills landed mid-write, within an attempt
  // cap and a time budget well inside the test's timeout (a TSan fork and
  // write take ~0.5 s each on a loaded host).
  constexpr int kMinIterations = 80;
  constexpr int kMaxIterations = 400;
  constexpr int kNeededMidWrite = kMinIterations / 8;
  const absl::Time budget_end = absl::Now() + absl::Seconds(200);
  int iterations = 0;
  int found_complete = 0;
  int found_absent = 0;
  int killed_mid_write = 0;
  int aimed_mid_write = 0;
  for (int i = 0; i < kMaxIterations &&
                  (i < kMinIterations || (killed_mid_write < kNeededMidWrite &&
                                          absl::Now() < budget_end));
       ++i) {
    ++iterations;
    // Alternate formats; the file from the previous iteration stays, so
    // "complete previous report" is exercised as well as "no file".
    ReportFormat format =
        i % 4 < 2 ? ReportFormat::kBinary : ReportFormat::kJson;
    std::string path = absl::StrCat(dir, "/r", i % 4 < 2 ? 0 : 1, ".ktvm-dump");
    const bool aimed = i % 2 == 1;
    int temps_before = CountTempFiles(dir);
    // The kill delay counts from when the child runs: fork() itself can
    // take longer than a write (under TSan, many times longer).
    int started[2];
    ASSERT_EQ(pipe(started), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(started[0]);
      if (write(started[1], "s", 1) != 1) _exit(2);
      for (uint64_t generation = i * 1000;; ++generation) {
        if (!WriteReportAtomically(ReportForGeneration(generation), path,
                                   format)
                 .ok()) {
          _exit(1);
        }
      }
    }
    close(started[1]);
    char byte;
    ASSERT_EQ(read(started[0], &byte, 1), 1) << "writer did not start";
    close(started[0]);
    if (aimed) {
      // Bounded: a few writes' time (the child writes back to back).
      const absl::Time give_up =
          absl::Now() + absl::Microseconds(int64_t{4} * write_us);
      while (CountTempFiles(dir) <= temps_before && absl::Now() < give_up) {
        usleep(20);
      }
      usleep(std::uniform_int_distribution<int>(0, 200)(rng));
    } else {
      usleep(std::uniform_int_distribution<int>(0, 3 * write_us)(rng));
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer failed before the kill";
    if (CountTempFiles(dir) > temps_before) {
      ++killed_mid_write;
      if (aimed) ++aimed_mid_write;
    }
    RemoveTempFiles(dir);

    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      ++found_absent;
      continue;
    }
    absl::StatusOr<FailureDumpReport> read = ReadReport(path);
    ASSERT_TRUE(read.ok()) << "iteration " << i << ": " << read.status();
    ASSERT_TRUE(IsConsistent(*read)) << "iteration " << i;
    ++found_complete;
  }
  std::printf(
      "kill test: %d iterations, %d complete, %d absent, %d killed "
      "mid-write (%d of them aimed)\n",
      iterations, found_complete, found_absent, killed_mid_write,
      aimed_mid_write);
  std::fflush(stdout);
  // The test only means something if kills landed inside writes and some
  // reports were there to check.
  EXPECT_GE(killed_mid_write, kNeededMidWrite);
  EXPECT_GT(found_complete, iterations / 4);
}

}  // namespace
}  // namespace ktvm::dump

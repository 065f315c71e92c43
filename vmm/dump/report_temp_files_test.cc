// Clean-up of temporary report files left by killed writers: removed only
// when their writer is gone and they predate the cut-off; live writers',
// this process's, new ones and every other name stay.
#include "vmm/dump/report_temp_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ktvm::dump {
namespace {

// A pid that belonged to a process that has exited and been reaped.
pid_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void Touch(const std::string& path, absl::Time mtime) {
  std::ofstream(path) << "partial report";
  const timespec times[2] = {absl::ToTimespec(mtime), absl::ToTimespec(mtime)};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

std::string TempName(pid_t pid) {
  return absl::StrFormat(".r.ktvm-dump.tmp-%d-3-0123456789abcdef", pid);
}

TEST(ReportTempFilesTest, NamesCarryTheWriterPid) {
  const std::string path = ReportTempPathFor("/d/r.ktvm-dump");
  ASSERT_EQ(path.rfind("/d/.r.ktvm-dump.tmp-", 0), 0u) << path;
  EXPECT_EQ(WriterPidOfReportTempName(path.substr(3)), getpid());
  EXPECT_EQ(WriterPidOfReportTempName(TempName(42)), 42);
  for (const char* other :
       {"r.ktvm-dump", ".r.ktvm-dump", ".r.tmp-42-3", ".r.tmp-42-3-0123",
        ".r.tmp-x-3-0123456789abcdef", ".r.tmp-42-3-0123456789abcdeg",
        ".r.tmp-42-3-0123456789ABCDEF", "r.tmp-42-3-0123456789abcdef",
        ".r.tmp-0-3-0123456789abcdef", ".r.tmp--3-0123456789abcdef"}) {
    EXPECT_EQ(WriterPidOfReportTempName(other), 0) << other;
  }
}

TEST(ReportTempFilesTest, RemovesOnlyOldFilesOfDeadWriters) {
  const std::string dir = TestDir("stale");
  const pid_t dead = DeadPid();
  // A live writer: a child that waits until the test ends it.
  const pid_t live = fork();
  if (live == 0) {
    pause();
    _exit(0);
  }
  const absl::Time cutoff = absl::Now();
  const absl::Time before = cutoff - absl::Hours(1);
  const absl::Time after = cutoff + absl::Hours(1);
  Touch(dir + "/" + TempName(dead), before);  // removed
  Touch(dir + "/.j.ktvm-dump.json" + TempName(dead).substr(12), before);
  Touch(dir + "/" + TempName(live), before);      // live writer
  Touch(dir + "/" + TempName(getpid()), before);  // this process
  const std::string fresh =
      absl::StrFormat(".r.ktvm-dump.tmp-%d-4-0123456789abcdef", dead);
  Touch(dir + "/" + fresh, after);              // too new
  Touch(dir + "/r.ktvm-dump", before);          // a report
  Touch(dir + "/.hidden.tmp-notours", before);  // not ours
  std::filesystem::create_directory(
      dir + absl::StrFormat("/.d.tmp-%d-5-0123456789abcdef", dead));

  EXPECT_EQ(RemoveStaleReportTempFiles(dir, cutoff), 2);
  const std::set<std::string> left = Names(dir);
  EXPECT_EQ(left.count(TempName(dead)), 0u);
  EXPECT_EQ(left.size(), 6u);
  EXPECT_EQ(left.count(TempName(live)), 1u);
  EXPECT_EQ(left.count(TempName(getpid())), 1u);
  EXPECT_EQ(left.count(fresh), 1u);
  EXPECT_EQ(left.count("r.ktvm-dump"), 1u);
  EXPECT_EQ(left.count(".hidden.tmp-notours"), 1u);
  // A second pass finds nothing more.
  EXPECT_EQ(RemoveStaleReportTempFiles(dir, cutoff), 0);
  EXPECT_EQ(RemoveStaleReportTempFiles(dir + "/missing", cutoff), 0);
  kill(live, SIGKILL);
  waitpid(live, nullptr, 0);
}

TEST(ReportTempFilesTest, ProcessStartIsBeforeNowAndRecent) {
  const absl::Time start = ProcessStartTime();
  EXPECT_LE(start, absl::Now());
  // This test process started well within the last hour (a second of
  // slack for the whole-second boot time).
  EXPECT_GT(start, absl::Now() - absl::Hours(1));
}

}  // namespace
}  // namespace ktvm::dump

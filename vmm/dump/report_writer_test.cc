#include "vmm/dump/report_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace ktvm::dump {
namespace {

using ktvm::report::FailureDumpReport;

FailureDumpReport SmallReport() {
  FailureDumpReport r;
  r.mutable_header()->set_format_version(ktvm::report::FORMAT_VERSION_1);
  r.mutable_header()->set_kernel_release("7.0.0-test");
  r.mutable_header()->set_backend(ktvm::report::BACKEND_QEMU_TCG);
  r.mutable_trigger()->set_kind(ktvm::report::TRIGGER_KIND_SCHED_EXT_ERROR);
  r.mutable_trigger()->set_summary("scx_root->exit_kind = 1025 (ERROR_BPF)");
  auto* exit = r.mutable_scx_exit();
  exit->set_kind(ktvm::report::SCX_EXIT_ERROR_BPF);
  exit->set_kind_value(1025);
  exit->set_msg("ktvm_fifo: error after 100 enqueues");
  auto* frame = exit->add_backtrace();
  frame->set_address(0xffffffff81234567);
  frame->set_symbol("scx_bpf_error_bstr");
  auto* map = r.add_bpf_maps();
  map->set_name("ktvm_fif.bss");
  map->set_type(ktvm::report::BPF_MAP_TYPE_ARRAY);
  auto* page = map->mutable_arena()->add_pages();
  page->set_user_addr(0x100000000);
  page->set_data(std::string(4096, '\xa5'));
  auto* entry = r.add_sdt_allocators()->add_entries();
  entry->set_idx(3);
  entry->set_genn(1);
  entry->mutable_payload()->set_type_name("u64");
  entry->mutable_payload()->set_uint_value(0xfeedface);
  return r;
}

std::string TestDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

bool Equal(const FailureDumpReport& a, const FailureDumpReport& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(ReportWriterTest, BinaryRoundTripLeavesOnlyTheReport) {
  std::string dir = TestDir("binary");
  std::string path = dir + "/r.ktvm-dump";
  absl::StatusOr<std::string> written =
      WriteReportAtomically(SmallReport(), path, ReportFormat::kBinary);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, path);
  absl::StatusOr<FailureDumpReport> read = ReadReport(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(Equal(*read, SmallReport()));
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"r.ktvm-dump"});
}

// A binary report starts with the header's tag (0x0a, a newline) and its
// length: a 123-byte header makes that "\n{", which once read as JSON (a
// report fuzzer finding). Every header length, whitespace-like ones too,
// must round-trip, and JSON with leading whitespace must still read.
TEST(ReportWriterTest, BinaryReportsOfEveryHeaderLengthReadBack) {
  for (int pad = 0; pad < 200; ++pad) {
    FailureDumpReport r = SmallReport();
    r.mutable_header()->set_ktvm_version(std::string(pad, 'v'));
    const std::string bytes = r.SerializeAsString();
    SCOPED_TRACE(absl::StrCat("header of ", r.header().ByteSizeLong(),
                              " bytes, starting ", int{bytes[1]}));
    absl::StatusOr<FailureDumpReport> read = ParseReport(bytes);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(Equal(*read, r));
    // Cut inside the header: a broken binary report, whatever it looks like.
    absl::StatusOr<FailureDumpReport> cut =
        ParseReport(absl::string_view(bytes).substr(0, bytes.size() / 3));
    ASSERT_FALSE(cut.ok());
    EXPECT_TRUE(
        absl::StrContains(cut.status().message(), "not a valid binary report"))
        << cut.status();
  }
  absl::StatusOr<std::string> json =
      SerializeReport(SmallReport(), ReportFormat::kJson);
  ASSERT_TRUE(json.ok());
  absl::StatusOr<FailureDumpReport> indented = ParseReport("\n  " + *json);
  ASSERT_TRUE(indented.ok()) << indented.status();
  EXPECT_TRUE(Equal(*indented, SmallReport()));
}

TEST(ReportWriterTest, JsonRoundTripIsProto3Json) {
  std::string dir = TestDir("json");
  std::string path = dir + "/r.json";
  ASSERT_TRUE(
      WriteReportAtomically(SmallReport(), path, ReportFormat::kJson).ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StartsWith(text, "{"));
  // Enums as names, 64-bit integers as strings: proto3 JSON mapping.
  EXPECT_TRUE(absl::StrContains(text, "\"SCX_EXIT_ERROR_BPF\""));
  EXPECT_TRUE(absl::StrContains(text, "\"18446744071581156711\""));
  absl::StatusOr<FailureDumpReport> read = ReadReport(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(Equal(*read, SmallReport()));
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"r.json"});
}

TEST(ReportWriterTest, ReplacesAnExistingReport) {
  std::string path = TestDir("replace") + "/r.ktvm-dump";
  FailureDumpReport first = SmallReport();
  first.mutable_trigger()->set_summary("first");
  ASSERT_TRUE(WriteReportAtomically(first, path, ReportFormat::kBinary).ok());
  ASSERT_TRUE(
      WriteReportAtomically(SmallReport(), path, ReportFormat::kBinary).ok());
  absl::StatusOr<FailureDumpReport> read = ReadReport(path);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(Equal(*read, SmallReport()));
}

TEST(ReportWriterTest, MissingDirectoryIsNotFound) {
  std::string path = TestDir("missing") + "/no/such/dir/r.ktvm-dump";
  absl::StatusOr<std::string> written =
      WriteReportAtomically(SmallReport(), path, ReportFormat::kBinary);
  EXPECT_EQ(written.status().code(), absl::StatusCode::kNotFound)
      << written.status();
  EXPECT_TRUE(absl::StrContains(written.status().message(), "no/such/dir"));
}

TEST(ReportWriterTest, PathThatIsADirectoryIsRejected) {
  std::string dir = TestDir("isdir");
  mkdir((dir + "/sub").c_str(), 0755);
  absl::StatusOr<std::string> written =
      WriteReportAtomically(SmallReport(), dir + "/sub", ReportFormat::kBinary);
  EXPECT_EQ(written.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"sub"});
  EXPECT_EQ(WriteReportAtomically(SmallReport(), "", ReportFormat::kBinary)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Runs `body` in a child process and returns its exit status, so a test can
// drop privileges or lower rlimits without affecting the others.
int RunInChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

absl::StatusCode WriteStatusCode(const std::string& path) {
  return WriteReportAtomically(SmallReport(), path, ReportFormat::kBinary)
      .status()
      .code();
}

TEST(ReportWriterTest, UnwritableDirectoryIsPermissionDenied) {
  // sysfs refuses to create files even for root.
  EXPECT_EQ(WriteStatusCode("/sys/r.ktvm-dump"),
            absl::StatusCode::kPermissionDenied);

  std::string dir = TestDir("readonly");
  chmod(dir.c_str(), 0555);
  // Root ignores directory modes, so the write runs as an unprivileged uid;
  // inside Bazel's user namespace no other uid exists (exit 10: skipped).
  int code = RunInChild([&] {
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) return 10;
    return WriteStatusCode(dir + "/r.ktvm-dump") ==
                   absl::StatusCode::kPermissionDenied
               ? 0
               : 12;
  });
  if (code == 10) {
    std::printf("chmod 0555 case not run: cannot drop root in this sandbox\n");
  } else {
    EXPECT_EQ(code, 0);
  }
  EXPECT_TRUE(ListDir(dir).empty());
  chmod(dir.c_str(), 0755);
}

TEST(ReportWriterTest, FullDiskRemovesTheTemporaryFile) {
  std::string dir = TestDir("full");
  std::string path = dir + "/r.ktvm-dump";
  ASSERT_TRUE(
      WriteReportAtomically(SmallReport(), path, ReportFormat::kBinary).ok());
  FailureDumpReport big = SmallReport();
  big.mutable_bpf_maps(0)->mutable_arena()->mutable_pages(0)->set_data(
      std::string(1 << 20, 'x'));
  // RLIMIT_FSIZE makes write() fail with EFBIG part way, as a full disk
  // would with ENOSPC: the same error path.
  int code = RunInChild([&] {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) return 10;
    absl::StatusOr<std::string> written =
        WriteReportAtomically(big, path, ReportFormat::kBinary);
    if (written.ok()) return 11;
    return written.status().code() == absl::StatusCode::kResourceExhausted ? 0
                                                                           : 12;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"r.ktvm-dump"});
  absl::StatusOr<FailureDumpReport> read = ReadReport(path);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(Equal(*read, SmallReport()));
}

TEST(ReadReportTest, ClassifiesBadFiles) {
  std::string dir = TestDir("bad");
  EXPECT_EQ(ReadReport(dir + "/absent").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadReport(dir).status().code(),
            absl::StatusCode::kInvalidArgument);
  WriteRaw(dir + "/empty", "");
  EXPECT_EQ(ReadReport(dir + "/empty").status().code(),
            absl::StatusCode::kInvalidArgument);

  std::string binary;
  ASSERT_TRUE(SmallReport().SerializeToString(&binary));
  WriteRaw(dir + "/truncated", binary.substr(0, binary.size() / 2));
  EXPECT_EQ(ReadReport(dir + "/truncated").status().code(),
            absl::StatusCode::kDataLoss);

  absl::StatusOr<std::string> json =
      SerializeReport(SmallReport(), ReportFormat::kJson);
  ASSERT_TRUE(json.ok());
  WriteRaw(dir + "/truncated.json", json->substr(0, json->size() / 2));
  EXPECT_EQ(ReadReport(dir + "/truncated.json").status().code(),
            absl::StatusCode::kDataLoss);

  WriteRaw(dir + "/text", "hello, a text file\n");
  EXPECT_EQ(ReadReport(dir + "/text").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A protobuf that is not a report (no header).
  ktvm::report::FailureDumpReport headerless = SmallReport();
  headerless.clear_header();
  ASSERT_TRUE(headerless.SerializeToString(&binary));
  WriteRaw(dir + "/headerless", binary);
  EXPECT_EQ(ReadReport(dir + "/headerless").status().code(),
            absl::StatusCode::kFailedPrecondition);

  WriteRaw(dir + "/other.json", "{\"name\": \"not a report\"}");
  EXPECT_EQ(ReadReport(dir + "/other.json").status().code(),
            absl::StatusCode::kFailedPrecondition);

  FailureDumpReport newer = SmallReport();
  newer.mutable_header()->set_format_version(
      static_cast<ktvm::report::FormatVersion>(2));
  ASSERT_TRUE(newer.SerializeToString(&binary));
  WriteRaw(dir + "/newer", binary);
  absl::StatusOr<FailureDumpReport> read = ReadReport(dir + "/newer");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(read.status().message(), "newer"));
}

TEST(DefaultReportPathTest, NamesAreTimestampedAndUnique) {
  absl::Time t = absl::FromCivil(absl::CivilSecond(2026, 11, 29, 3, 4, 5),
                                 absl::UTCTimeZone()) +
                 absl::Microseconds(42);
  std::string a = DefaultReportPathIn("/d", t, 77, ReportFormat::kBinary);
  std::string b = DefaultReportPathIn("/d/", t, 77, ReportFormat::kJson);
  EXPECT_TRUE(absl::StartsWith(a, "/d/ktvm-20261129T030405.000042Z-77"));
  EXPECT_TRUE(absl::EndsWith(a, ".ktvm-dump"));
  EXPECT_TRUE(absl::StartsWith(b, "/d/ktvm-20261129T030405.000042Z-77-"));
  EXPECT_TRUE(absl::EndsWith(b, ".ktvm-dump.json"));
  EXPECT_NE(a, b);
}

TEST(DefaultReportPathTest, UsesTheBazelRunWorkingDirectory) {
  setenv("BUILD_WORKING_DIRECTORY", "/home/user/project", 1);
  std::string path = DefaultReportPath(ReportFormat::kBinary);
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_TRUE(std::regex_match(
      path, std::regex("/home/user/project/ktvm-[0-9]{8}T[0-9]{6}\\.[0-9]{6}Z-"
                       "[0-9]+(-[0-9]+)?\\.ktvm-dump")))
      << path;
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_TRUE(absl::StartsWith(DefaultReportPath(ReportFormat::kBinary),
                               absl::StrCat(cwd, "/ktvm-")));
}

}  // namespace
}  // namespace ktvm::dump

namespace ktvm::dump {
namespace {
TEST(ReportWriterTest, GuestStringsWithInvalidUtf8StillReadBack) {
  std::string dir = TestDir("utf8");
  FailureDumpReport r = SmallReport();
  // Guest memory is not UTF-8: a torn comm, a binary log record.
  r.mutable_scx_exit()->set_msg("stall of \xff\xfe task");
  r.add_run_queues()->set_curr_comm(std::string("kwork\0\xc3", 7));
  for (ReportFormat format : {ReportFormat::kBinary, ReportFormat::kJson}) {
    std::string path = dir + (format == ReportFormat::kJson ? "/r.json" : "/r");
    ASSERT_TRUE(WriteReportAtomically(r, path, format).ok());
    absl::StatusOr<FailureDumpReport> read = ReadReport(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(absl::StartsWith(read->scx_exit().msg(), "stall of "));
    EXPECT_TRUE(absl::EndsWith(read->scx_exit().msg(), " task"));
    EXPECT_EQ(read->run_queues(0).curr_comm(), std::string("kwork\0\\xc3", 10));
    ASSERT_GT(read->diagnostics_size(), 0);
    EXPECT_TRUE(absl::StrContains(read->diagnostics(0).reason(),
                                  "2 string fields held invalid UTF-8"));
  }
}
TEST(ReportWriterTest, AlternativeNamesKeepTheExtension) {
  EXPECT_EQ(AlternativeReportPath("/d/r.ktvm-dump", 7, 0), "/d/r-7.ktvm-dump");
  EXPECT_EQ(AlternativeReportPath("/d/r.ktvm-dump", 7, 2),
            "/d/r-7-2.ktvm-dump");
  EXPECT_EQ(AlternativeReportPath("/d/r.ktvm-dump.json", 7, 0),
            "/d/r-7.ktvm-dump.json");
  EXPECT_EQ(AlternativeReportPath("/d.x/report", 7, 0), "/d.x/report-7");
  EXPECT_EQ(AlternativeReportPath("r.pb", 7, 0), "r-7.pb");
  EXPECT_EQ(AlternativeReportPath("/d/.hidden", 7, 0), "/d/.hidden-7");
}

FailureDumpReport ReportNamed(const std::string& name) {
  FailureDumpReport r = SmallReport();
  r.mutable_trigger()->set_summary(name);
  return r;
}

TEST(ReportWriterTest, ANewerReportIsKeptAndAnOlderOneReplaced) {
  const std::string dir = TestDir("keep");
  const std::string path = dir + "/r.ktvm-dump";
  const absl::Time run_start = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE(WriteReportAtomically(ReportNamed("other run"), path,
                                    ReportFormat::kBinary)
                  .ok());
  // Written after run_start: another run's report, kept.
  absl::StatusOr<std::string> mine = WriteReportAtomically(
      ReportNamed("this run"), path, ReportFormat::kBinary, run_start);
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(*mine, AlternativeReportPath(path, getpid(), 0));
  EXPECT_EQ(ReadReport(path)->trigger().summary(), "other run");
  EXPECT_EQ(ReadReport(*mine)->trigger().summary(), "this run");
  // A third report of yet another run takes the next free name.
  absl::StatusOr<std::string> third = WriteReportAtomically(
      ReportNamed("third"), path, ReportFormat::kBinary, run_start);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, AlternativeReportPath(path, getpid(), 1));

  // Older than the run: a stale report of an earlier run, replaced.
  const timespec old[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), old, 0), 0);
  absl::StatusOr<std::string> replaced = WriteReportAtomically(
      ReportNamed("replaces"), path, ReportFormat::kBinary, run_start);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(*replaced, path);
  EXPECT_EQ(ReadReport(path)->trigger().summary(), "replaces");
  EXPECT_EQ(ListDir(dir).size(), 3u);
}

// Two processes publish to one path at the same instant, many times: every
// report survives intact under its own name and no temporary file remains.
TEST(ReportWriterTest, TwoProcessesWritingOnePathKeepBothReports) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string dir = TestDir(absl::StrCat("race", round));
    const std::string path = dir + "/r.ktvm-dump";
    const absl::Time run_start = absl::Now() - absl::Seconds(1);
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    std::vector<pid_t> children;
    for (int child = 0; child < 2; ++child) {
      const pid_t pid = fork();
      if (pid == 0) {
        close(go[1]);
        char byte;
        // Both start when the parent closes the pipe.
        if (read(go[0], &byte, 1) < 0) _exit(10);
        absl::StatusOr<std::string> written =
            WriteReportAtomically(ReportNamed(absl::StrCat("child ", child)),
                                  path, ReportFormat::kBinary, run_start);
        _exit(written.ok() ? 0 : 11);
      }
      children.push_back(pid);
    }
    close(go[0]);
    close(go[1]);
    for (pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    std::vector<std::string> names = ListDir(dir);
    ASSERT_EQ(names.size(), 2u) << round;
    std::vector<std::string> summaries;
    for (const std::string& name : names) {
      EXPECT_NE(name[0], '.') << name;
      absl::StatusOr<FailureDumpReport> r = ReadReport(dir + "/" + name);
      ASSERT_TRUE(r.ok()) << name << ": " << r.status();
      summaries.push_back(r->trigger().summary());
    }
    std::sort(summaries.begin(), summaries.end());
    EXPECT_EQ(summaries, (std::vector<std::string>{"child 0", "child 1"}));
  }
}

}  // namespace
}  // namespace ktvm::dump

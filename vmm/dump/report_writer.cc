#include "vmm/dump/report_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "vmm/dump/path_parts.h"
#include "vmm/dump/report_temp_files.h"
#include "vmm/dump/utf8_repair.h"

namespace ktvm::dump {
namespace {

using ktvm::report::FailureDumpReport;

// Protobuf cannot parse a message of 2 GiB or more in one piece.
constexpr size_t kMaxReportBytes = INT_MAX;

// Serialisers emit fields in field-number order and every report has a
// header (field 1, length-delimited), so a binary report starts with this
// tag. It tells a damaged report (DataLoss) from some other file.
constexpr char kHeaderTag = (1 << 3) | 2;

// Maps the errno of a file operation to the status class callers branch on
// (exit codes, messages), keeping the strerror text and the path.
absl::Status FileError(int err, absl::string_view what,
                       absl::string_view path) {
  std::string message =
      absl::StrFormat("%s %s: %s", what, path, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case EISDIR:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

// Owns the temporary file until Commit(): every early return closes the fd
// and unlinks the file, so a failed write leaves nothing behind.
class TempFile {
 public:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  TempFile(TempFile&& other) noexcept
      : fd_(other.fd_),
        path_(std::move(other.path_)),
        committed_(other.committed_) {
    other.fd_ = -1;
    other.committed_ = true;  // The moved-from shell owns nothing.
  }
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_) unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // close() can report a deferred write error (NFS, quota), so it is checked.
  absl::Status Close() {
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return FileError(errno, "closing", path_);
    return absl::OkStatus();
  }
  void Commit() { committed_ = true; }

 private:
  int fd_;
  std::string path_;
  bool committed_ = false;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<TempFile> CreateTempFile(const std::string& path) {
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string temp = ReportTempPathFor(path);
    int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) return TempFile(fd, temp);
    if (errno != EEXIST) {
      return FileError(errno, "creating a temporary file in",
                       DirectoryOf(path));
    }
  }
  return absl::InternalError(absl::StrFormat(
      "could not pick an unused temporary name next to %s", path));
}

// Nanoseconds (SetReportWritePauseForTesting).
std::atomic<int64_t> g_write_pause_for_testing_ns{0};

absl::Status WriteAll(int fd, absl::string_view bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "writing", path);
    }
    if (n == 0) return FileError(ENOSPC, "writing", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncRetry(int fd, absl::string_view what,
                        const std::string& path) {
  while (fsync(fd) != 0) {
    if (errno == EINTR) continue;
    return FileError(errno, what, path);
  }
  return absl::OkStatus();
}

std::string ProtobufStatusText(const google::protobuf::util::Status& s) {
  return std::string(s.message().data(), s.message().size());
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int raw = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return FileError(errno, "opening", path);
  Fd fd(raw);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return FileError(errno, "stat of", path);
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is a directory, not a report", path));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxReportBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %d bytes, larger than any report (2 GiB)", path, st.st_size));
  }
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "reading", path);
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > kMaxReportBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s grew past 2 GiB while reading", path));
    }
    bytes.append(buffer, static_cast<size_t>(n));
  }
  return bytes;
}

// Where the report goes: `path`, unless a report there was written at or
// after `keep_since` (by another run), then the first free alternative.
// Callers hold the directory lock.
absl::StatusOr<std::string> PickTarget(const std::string& path,
                                       absl::Time keep_since) {
  constexpr int kAlternatives = 100;
  std::string target = path;
  for (int n = 0; n <= kAlternatives; ++n) {
    struct stat st;
    if (lstat(target.c_str(), &st) != 0 ||
        absl::TimeFromTimespec(st.st_mtim) < keep_since) {
      return target;
    }
    target = AlternativeReportPath(path, getpid(), n);
  }
  return absl::AlreadyExistsError(absl::StrFormat(
      "%s and %d alternative names already hold reports of other runs", path,
      kAlternatives));
}

absl::Status CheckReportPath(const std::string& path) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrFormat("report path '%s' names no file", path));
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("report path %s is a directory", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SerializeReport(const FailureDumpReport& report,
                                            ReportFormat format) {
  if (HasInvalidUtf8(report)) {
    // Rare (guest strings are mostly ASCII), so the copy is only made here.
    FailureDumpReport repaired = report;
    size_t count = RepairInvalidUtf8(&repaired);
    ktvm::report::Diagnostic* d = repaired.add_diagnostics();
    d->set_subject("report");
    d->set_reason(absl::StrFormat(
        "%d string fields held invalid UTF-8 (guest data); those bytes are "
        "written as \\xNN",
        count));
    d->set_severity(ktvm::report::Diagnostic::SEVERITY_WARNING);
    return SerializeReport(repaired, format);
  }
  std::string bytes;
  if (format == ReportFormat::kBinary) {
    if (!report.SerializeToString(&bytes)) {
      return absl::InternalError(absl::StrFormat(
          "serialising the report failed (%d bytes; the limit is 2 GiB)",
          report.ByteSizeLong()));
    }
    return bytes;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  google::protobuf::util::Status s =
      google::protobuf::util::MessageToJsonString(report, &bytes, options);
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("converting the report to JSON: ", ProtobufStatusText(s)));
  }
  bytes.push_back('\n');
  return bytes;
}

absl::StatusOr<std::string> WriteReportAtomically(
    const FailureDumpReport& report, const std::string& path,
    ReportFormat format, absl::Time keep_reports_since) {
  if (absl::Status s = CheckReportPath(path); !s.ok()) return s;
  // Serialise before creating anything: a failure here leaves no trace.
  absl::StatusOr<std::string> bytes = SerializeReport(report, format);
  if (!bytes.ok()) return bytes.status();
  return WriteSerializedReportAtomically(*bytes, path, keep_reports_since);
}

absl::StatusOr<std::string> WriteSerializedReportAtomically(
    absl::string_view bytes, const std::string& path,
    absl::Time keep_reports_since) {
  if (absl::Status s = CheckReportPath(path); !s.ok()) return s;
  absl::StatusOr<TempFile> temp = CreateTempFile(path);
  if (!temp.ok()) return temp.status();
  const absl::Duration pause =
      absl::Nanoseconds(g_write_pause_for_testing_ns.load());
  if (pause > absl::ZeroDuration()) {
    const absl::string_view first = bytes.substr(0, bytes.size() / 2);
    if (absl::Status s = WriteAll(temp->fd(), first, temp->path()); !s.ok()) {
      return s;
    }
    absl::SleepFor(pause);
    bytes.remove_prefix(first.size());
  }
  if (absl::Status s = WriteAll(temp->fd(), bytes, temp->path()); !s.ok()) {
    return s;
  }
  // Data must be on disk before the rename publishes it; otherwise a power
  // loss can leave the new name pointing at an empty or partial file.
  if (absl::Status s = FsyncRetry(temp->fd(), "fsync of", temp->path());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = temp->Close(); !s.ok()) return s;
  std::string dir = DirectoryOf(path);
  // Also the lock that serialises publishing among writers of this
  // directory. A directory that cannot be opened (no read permission, some
  // filesystems) is published into without the lock.
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Fd dir_guard(dir_fd);
  if (dir_fd >= 0) {
    while (flock(dir_fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  absl::StatusOr<std::string> target = PickTarget(path, keep_reports_since);
  if (!target.ok()) return target.status();
  if (rename(temp->path().c_str(), target->c_str()) != 0) {
    return FileError(errno, absl::StrCat("renaming ", temp->path(), " to"),
                     *target);
  }
  temp->Commit();
  // The rename itself lives in the directory; fsync it so the new name
  // survives a crash. The report is complete either way, so a directory that
  // cannot be opened for fsync (some filesystems) is not an error.
  if (dir_fd >= 0 && fsync(dir_fd) != 0 && errno != EINVAL && errno != EROFS) {
    return FileError(errno, "fsync of directory", dir);
  }
  // After publishing, so the report is never later for it: what writers
  // killed between their temp file and the rename left here.
  RemoveStaleReportTempFiles(dir, ProcessStartTime());
  return *target;
}

void SetReportWritePauseForTesting(absl::Duration pause) {
  g_write_pause_for_testing_ns.store(absl::ToInt64Nanoseconds(pause));
}

std::string AlternativeReportPath(const std::string& path, int pid, int n) {
  const std::string base = BaseName(path);
  size_t ext = std::string::npos;
  for (const char* known : {".ktvm-dump.json", ".ktvm-dump"}) {
    if (absl::EndsWith(base, known) && base.size() > strlen(known)) {
      ext = path.size() - strlen(known);
      break;
    }
  }
  if (ext == std::string::npos) {
    const size_t dot = base.rfind('.');
    ext = dot == std::string::npos || dot == 0
              ? path.size()
              : path.size() - (base.size() - dot);
  }
  const std::string suffix =
      n == 0 ? absl::StrCat("-", pid) : absl::StrCat("-", pid, "-", n);
  return absl::StrCat(path.substr(0, ext), suffix, path.substr(ext));
}

std::string DefaultReportPathIn(absl::string_view dir, absl::Time now, int pid,
                                ReportFormat format) {
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  std::string stamp =
      absl::FormatTime("%Y%m%dT%H%M%E6SZ", now, absl::UTCTimeZone());
  std::string suffix = n == 0 ? "" : absl::StrCat("-", n);
  const char* extension =
      format == ReportFormat::kJson ? ".ktvm-dump.json" : ".ktvm-dump";
  std::string prefix(dir);
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  return absl::StrCat(prefix, "ktvm-", stamp, "-", pid, suffix, extension);
}

std::string DefaultReportPath(ReportFormat format) {
  std::string dir;
  if (const char* bwd = std::getenv("BUILD_WORKING_DIRECTORY");
      bwd != nullptr && bwd[0] != '\0') {
    dir = bwd;
  } else {
    char buffer[PATH_MAX];
    dir = getcwd(buffer, sizeof(buffer)) != nullptr ? buffer : ".";
  }
  return DefaultReportPathIn(dir, absl::Now(), getpid(), format);
}

namespace {

absl::Status ParseJsonReport(absl::string_view bytes,
                             FailureDumpReport& report) {
  google::protobuf::util::JsonParseOptions options;
  // A newer ktvm may add fields; an older reader still shows the rest.
  options.ignore_unknown_fields = true;
  google::protobuf::util::Status s =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(bytes.data(), bytes.size()), &report,
          options);
  if (s.ok()) return absl::OkStatus();
  // One-line errors: the parser's message can contain newlines.
  std::string reason = ProtobufStatusText(s);
  absl::StrReplaceAll({{"\n", " "}}, &reason);
  return absl::DataLossError(
      absl::StrCat("not a valid JSON report (truncated or corrupt): ", reason));
}

}  // namespace

absl::StatusOr<FailureDumpReport> ParseReport(absl::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("the file is empty, not a report");
  }
  // Protobuf logs each invalid UTF-8 string it meets to stderr; the status
  // returned here already says the file is bad, in one line.
  google::protobuf::LogSilencer quiet;
  FailureDumpReport report;
  absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(bytes);
  const bool looks_like_json = !trimmed.empty() && trimmed.front() == '{';
  // A binary report starts with its header's tag, 0x0a, which is also a
  // newline: one whose header is 123 bytes long begins "\n{" like indented
  // JSON. Bytes that start with the tag are read as binary first, and as
  // JSON only when that fails.
  const bool binary_parsed =
      bytes.front() == kHeaderTag &&
      report.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  constexpr absl::string_view kBrokenBinary =
      "not a valid binary report (truncated or corrupt protobuf)";
  if (!binary_parsed || !report.has_header()) {
    if (looks_like_json) {
      report.Clear();
      absl::Status json = ParseJsonReport(bytes, report);
      if (!json.ok()) {
        // Bytes that start with the header tag and fail both ways are far
        // more likely a cut binary report than JSON after a blank line.
        if (bytes.front() == kHeaderTag && !binary_parsed) {
          return absl::DataLossError(kBrokenBinary);
        }
        return json;
      }
    } else if (bytes.front() != kHeaderTag) {
      return absl::FailedPreconditionError(
          "not a ktvm report (neither JSON nor a binary report, which starts "
          "with its header)");
    } else if (!binary_parsed) {
      return absl::DataLossError(kBrokenBinary);
    }
  }
  // Arbitrary bytes can happen to parse as a message made of unknown
  // fields; every report ktvm writes has a header.
  if (!report.has_header()) {
    return absl::FailedPreconditionError(
        "parses as protobuf but has no report header: not a ktvm report");
  }
  if (report.header().format_version() > ktvm::report::FORMAT_VERSION_1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "report format version %d is newer than this reader (1)",
        report.header().format_version()));
  }
  return report;
}

absl::StatusOr<FailureDumpReport> ReadReport(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<FailureDumpReport> report = ParseReport(*bytes);
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(path, ": ", report.status().message()));
  }
  return report;
}

}  // namespace ktvm::dump

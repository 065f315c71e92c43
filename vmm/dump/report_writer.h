// Writing and reading FailureDumpReport files so that a crash or SIGKILL of
// ktvm at any moment leaves either no report or a complete one at the final
// path, never a truncated file a user would mistake for a report.
#ifndef KTVM_VMM_DUMP_REPORT_WRITER_H_
#define KTVM_VMM_DUMP_REPORT_WRITER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::dump {

enum class ReportFormat { kBinary, kJson };

// Serialises `report` (binary protobuf or proto3 JSON) into a temporary file
// in the directory of `path`, fsyncs it, renames it over `path` and fsyncs
// the directory. Returns the path written. On any error the temporary file
// is removed and `path` keeps its previous content (or stays absent).
//
// A report at `path` last modified at or after `keep_reports_since` is not
// replaced: it belongs to another run (e.g. a second VM given the same
// --dump path), so this report goes next to it as <stem>-<pid>[-<n>]<ext>
// (ext: ".ktvm-dump", ".ktvm-dump.json" or the last extension) and that
// path is returned. Writers of one directory decide under an flock() of the
// directory, so two processes never pick the same name. The default
// (InfiniteFuture) always replaces.
//
// Errors: NotFound (directory missing), PermissionDenied
// (EACCES/EPERM/EROFS), ResourceExhausted (ENOSPC/EDQUOT/EFBIG),
// InvalidArgument (empty path, path is a directory), AlreadyExists (every
// alternative name holds a newer report), Internal (serialisation or other
// I/O failure).
absl::StatusOr<std::string> WriteReportAtomically(
    const ktvm::report::FailureDumpReport& report, const std::string& path,
    ReportFormat format,
    absl::Time keep_reports_since = absl::InfiniteFuture());

// WriteReportAtomically for bytes already serialised (SerializeReport), for
// a caller that needs the bytes itself (e.g. to time the serialisation or
// append to them). Same guarantees, naming and errors, minus Internal for
// serialisation.
absl::StatusOr<std::string> WriteSerializedReportAtomically(
    absl::string_view bytes, const std::string& path,
    absl::Time keep_reports_since = absl::InfiniteFuture());

// Tests only (ktvm --testing_report_write_pause): every later write stops
// this long after the first half of the report is in its temporary file,
// so a test can SIGKILL the real process inside the write.
void SetReportWritePauseForTesting(absl::Duration pause);

// The name WriteReportAtomically uses for attempt `n` (0-based) when `path`
// holds a newer report: "/d/r.ktvm-dump", pid 7, n 0 -> "/d/r-7.ktvm-dump";
// n 1 -> "/d/r-7-1.ktvm-dump".
std::string AlternativeReportPath(const std::string& path, int pid, int n);

// A fresh report path in `dir`:
// <dir>/ktvm-<UTC yyyymmddThhmmss.uuuuuu>Z-<pid>[-<n>].ktvm-dump[.json].
// The per-process counter <n> keeps two reports of one run in one
// microsecond apart.
std::string DefaultReportPathIn(absl::string_view dir, absl::Time now, int pid,
                                ReportFormat format);

// DefaultReportPathIn() for the user's working directory: the directory
// `bazel run` was invoked from (BUILD_WORKING_DIRECTORY) when set, since a
// `bazel run` binary starts inside its runfiles tree; otherwise the current
// directory. Absolute, so the path ktvm prints can be used anywhere.
std::string DefaultReportPath(ReportFormat format);

// Reads a report written in either format (JSON when the first
// non-whitespace byte is '{'). Errors: NotFound, PermissionDenied,
// InvalidArgument (a directory, or empty), DataLoss (neither valid binary
// nor valid JSON: truncated or corrupt), FailedPrecondition (parses but is
// not a ktvm report: no header, or a format version newer than this reader).
absl::StatusOr<ktvm::report::FailureDumpReport> ReadReport(
    const std::string& path);

// Parses report bytes already in memory (same rules as ReadReport).
absl::StatusOr<ktvm::report::FailureDumpReport> ParseReport(
    absl::string_view bytes);

// Serialises without writing (used by converters).
absl::StatusOr<std::string> SerializeReport(
    const ktvm::report::FailureDumpReport& report, ReportFormat format);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_REPORT_WRITER_H_

// dumpview: prints or converts a ktvm FailureDumpReport.
//   dumpview report.ktvm-dump                       human summary
//   dumpview --section=scx_exit,sdt report.ktvm-dump
//   dumpview --format=json report.ktvm-dump > report.json
//   dumpview --format=binary --output=r.ktvm-dump report.json
// Exit codes are listed in tools/dumpview/README.md and exit_codes.h.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/dumpview/exit_codes.h"
#include "tools/dumpview/report_text.h"
#include "vmm/dump/report_writer.h"
#include "vmm/parse_flags.h"

ABSL_FLAG(std::string, format, "text",
          "Output: text (human summary), json (proto3 JSON) or binary "
          "(protobuf wire format).");
ABSL_FLAG(std::string, section, "all",
          "Comma-separated sections for --format=text: all, header, trigger, "
          "timings, scx_exit, vcpus, log, maps, arena, sdt, runqueues, "
          "diagnostics, console, layout.");
ABSL_FLAG(int, log_lines, 60,
          "Newest kernel log records in the text summary; 0 = every record "
          "the report holds.");
ABSL_FLAG(std::string, output, "",
          "Write to this file (atomically: temp file, fsync, rename) instead "
          "of stdout.");

namespace ktvm::dumpview {
namespace {

int Fail(ExitCode code, absl::string_view reason) {
  std::fprintf(stderr, "dumpview: error: %s\n", std::string(reason).c_str());
  return code;
}

int WriteStdout(const std::string& bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return Fail(kExitOutputFailed, "writing to stdout failed");
  }
  return kExitOk;
}

// `bazel run` starts the binary in its runfiles tree; relative paths mean
// the directory the user ran bazel from.
std::string UserPath(const std::string& path) {
  const char* bwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || bwd == nullptr || bwd[0] == '\0') {
    return path;
  }
  return absl::StrCat(bwd, "/", path);
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Prints a ktvm failure dump report as text, or converts it.\n"
      "Usage: dumpview [--format=text|json|binary] [--section=LIST] "
      "[--log_lines=N] [--output=FILE] REPORT\n"
      "REPORT is a binary or JSON report written by ktvm (the format is "
      "detected).\nExit codes: 0 ok, 2 usage, 3 cannot open, 4 corrupt or "
      "truncated, 5 not a ktvm report, 6 output failed, 7 internal.");
  absl::FlagsUsageConfig usage;
  // --help lists dumpview's own flags, not those of every linked library.
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "tools/dumpview/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> args =
      vmm::ParseFlagsWithExitCodes(argc, argv, kExitUsage);
  if (args.size() != 2) {
    return Fail(kExitUsage,
                absl::StrFormat("expected exactly one report file, got %d "
                                "(see --help)",
                                args.size() - 1));
  }
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "text" && format != "json" && format != "binary") {
    return Fail(
        kExitUsage,
        absl::StrFormat("--format=%s: expected text, json or binary", format));
  }
  absl::StatusOr<std::set<Section>> sections =
      ParseSections(absl::GetFlag(FLAGS_section));
  if (!sections.ok()) return Fail(kExitUsage, sections.status().message());
  const std::string output = UserPath(absl::GetFlag(FLAGS_output));
  const int log_lines = absl::GetFlag(FLAGS_log_lines);
  if (log_lines < 0) {
    return Fail(
        kExitUsage,
        absl::StrFormat("--log_lines=%d: expected 0 or more", log_lines));
  }
  if (format == "binary" && output.empty() && isatty(STDOUT_FILENO)) {
    return Fail(kExitUsage,
                "refusing to write binary to a terminal; use --output=FILE");
  }

  absl::StatusOr<ktvm::report::FailureDumpReport> report =
      ktvm::dump::ReadReport(UserPath(args[1]));
  if (!report.ok()) {
    return Fail(ExitCodeForReadError(report.status()),
                report.status().message());
  }

  if (format != "text" && !output.empty()) {
    absl::StatusOr<std::string> written = ktvm::dump::WriteReportAtomically(
        *report, output,
        format == "json" ? ktvm::dump::ReportFormat::kJson
                         : ktvm::dump::ReportFormat::kBinary);
    if (!written.ok()) {
      return Fail(kExitOutputFailed, written.status().message());
    }
    return kExitOk;
  }
  std::string bytes;
  if (format == "text") {
    bytes = FormatReport(*report, *sections,
                         {.max_log_records = static_cast<size_t>(log_lines)});
  } else {
    absl::StatusOr<std::string> serialized = ktvm::dump::SerializeReport(
        *report, format == "json" ? ktvm::dump::ReportFormat::kJson
                                  : ktvm::dump::ReportFormat::kBinary);
    if (!serialized.ok()) {
      return Fail(kExitInternal, serialized.status().message());
    }
    bytes = *std::move(serialized);
  }
  if (!output.empty()) {
    // Text goes through a plain file; only reports need the atomic writer,
    // but a half-written summary is still not left behind.
    std::string temp = absl::StrCat(output, ".tmp");
    FILE* f = std::fopen(temp.c_str(), "we");
    if (f == nullptr ||
        std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
        std::fclose(f) != 0 || std::rename(temp.c_str(), output.c_str()) != 0) {
      std::remove(temp.c_str());
      return Fail(kExitOutputFailed,
                  absl::StrCat("writing ", output, " failed"));
    }
    return kExitOk;
  }
  return WriteStdout(bytes);
}

}  // namespace
}  // namespace ktvm::dumpview

int main(int argc, char** argv) { return ktvm::dumpview::Run(argc, argv); }

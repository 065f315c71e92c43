// Process exit codes of tools/dumpview (documented in its README.md), so
// scripts can tell "no such file" from "corrupt report" without parsing text.
#ifndef KTVM_TOOLS_DUMPVIEW_EXIT_CODES_H_
#define KTVM_TOOLS_DUMPVIEW_EXIT_CODES_H_

#include "absl/status/status.h"

namespace ktvm::dumpview {

enum ExitCode : int {
  kExitOk = 0,
  // Bad flags or arguments.
  kExitUsage = 2,
  // The report file is missing or unreadable (permissions).
  kExitCannotOpen = 3,
  // The file is a truncated or corrupt report (neither valid binary nor
  // valid JSON protobuf).
  kExitCorrupt = 4,
  // The file parses but is not a ktvm report (no header, empty, a
  // directory, or a newer format version).
  kExitNotAReport = 5,
  // The output could not be written.
  kExitOutputFailed = 6,
  kExitInternal = 7,
};

// Maps a ktvm::dump::ReadReport() error to its exit code.
ExitCode ExitCodeForReadError(const absl::Status& status);

}  // namespace ktvm::dumpview

#endif  // KTVM_TOOLS_DUMPVIEW_EXIT_CODES_H_

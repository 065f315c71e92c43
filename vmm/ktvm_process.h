// Test helper: runs the ktvm binary and captures its output, exit code and
// its one "ktvm: error:" line.
#ifndef KTVM_VMM_KTVM_PROCESS_H_
#define KTVM_VMM_KTVM_PROCESS_H_

#include <string>

namespace ktvm::vmm::testing {

inline constexpr char kKtvmBinary[] = "vmm/ktvm";
inline constexpr char kTestGuest[] = "tests/test_guest/test_guest.bzImage";

struct KtvmResult {
  int code = -1;           // exit code, -1 if killed by a signal
  std::string output;      // stdout + stderr
  std::string error_line;  // the "ktvm: error:" line, if any
  int error_lines = 0;     // how many there were (one is the contract)
};

// Runs `vmm/ktvm <args>` through the shell with stdin from /dev/null.
KtvmResult RunKtvm(const std::string& args);

// Same with another command line in front of the args: a copy of the binary,
// possibly behind a wrapper (e.g. "setpriv --reuid=65534 ... /tmp/d/ktvm").
KtvmResult RunKtvmCommand(const std::string& command, const std::string& args);

// The report path ktvm's freeze-and-dump summary printed ("ktvm:   report
// <path> (<n> bytes)"), or "" when there is none.
std::string PrintedReportPath(const std::string& output);

// Writes bytes to $TEST_TMPDIR/name and returns the path.
std::string WriteTempFile(const std::string& name, const std::string& bytes);

}  // namespace ktvm::vmm::testing

#endif  // KTVM_VMM_KTVM_PROCESS_H_

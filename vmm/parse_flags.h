// absl::ParseCommandLine with ktvm's exit codes. Abseil's parser exits with
// status 1 both after --help and on a malformed flag (`--cpus abc`, an
// unknown flag), which would read as "workload failed" to a CI system.
// This wrapper makes --help/--version exit 0 and every flag error exit with
// the caller's usage code.
#ifndef KTVM_VMM_PARSE_FLAGS_H_
#define KTVM_VMM_PARSE_FLAGS_H_

#include <vector>

namespace ktvm::vmm {

std::vector<char*> ParseFlagsWithExitCodes(int argc, char** argv,
                                           int usage_exit_code);

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_PARSE_FLAGS_H_

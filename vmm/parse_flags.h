// absl::ParseCommandLine with ktvm's exit codes. Abseil's parser exits with
// status 1 both after --help and on a malformed flag (`--cpus abc`, an
// unknown flag), which would read as "workload failed" to a CI system.
// This wrapper makes --help/--version exit 0 and every flag error exit with
// the caller's usage code.
#ifndef KTVM_VMM_PARSE_FLAGS_H_
#define KTVM_VMM_PARSE_FLAGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace ktvm::vmm {

std::vector<char*> ParseFlagsWithExitCodes(int argc, char** argv,
                                           int usage_exit_code);

// Every value given to the list flag `name` (--name=V, --name V, -name...),
// in order, up to a "--". Abseil keeps only the last occurrence of a
// std::vector<std::string> flag; this lets a repeated flag accumulate.
// Each value is still comma-separated by the caller's flag semantics.
std::vector<std::string> RepeatedFlagValues(int argc, char** argv,
                                            std::string_view name);

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_PARSE_FLAGS_H_

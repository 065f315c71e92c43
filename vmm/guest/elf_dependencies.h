// Finds what a dynamically linked ELF executable needs at run time: its
// interpreter (PT_INTERP) and the transitive closure of DT_NEEDED libraries,
// resolved like ld.so does (DT_RPATH/DT_RUNPATH with $ORIGIN, then the
// system directories).
#ifndef KTVM_VMM_GUEST_ELF_DEPENDENCIES_H_
#define KTVM_VMM_GUEST_ELF_DEPENDENCIES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ktvm::guest {

struct ElfDependency {
  // Path the guest's loader will look for (also used on the host to read it).
  std::string path;
  bool is_interpreter = false;
};

struct ElfInfo {
  bool is_dynamic = false;  // has PT_INTERP or DT_NEEDED
  std::string interpreter;  // empty for static executables
  std::vector<std::string> needed;
  std::vector<std::string> search_path;  // from DT_RPATH/DT_RUNPATH
};

// Reads PT_INTERP and the dynamic section of one file.
absl::StatusOr<ElfInfo> ReadElfInfo(const std::string& path);

// The interpreter and every library `executable` needs, each once; error
// naming the library that cannot be found.
absl::StatusOr<std::vector<ElfDependency>> ResolveElfDependencies(
    const std::string& executable);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_ELF_DEPENDENCIES_H_

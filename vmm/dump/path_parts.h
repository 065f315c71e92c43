// The directory and last component of a report path, as the report writer
// and its temp-file cleanup both need them (no std::filesystem: its
// exceptions are not used here, and these never touch the disk).
#ifndef KTVM_VMM_DUMP_PATH_PARTS_H_
#define KTVM_VMM_DUMP_PATH_PARTS_H_

#include <string>

namespace ktvm::dump {

// "d/r.ktvm-dump" -> "d"; "r.ktvm-dump" -> "."; "/r" -> "/".
inline std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// "d/r.ktvm-dump" -> "r.ktvm-dump".
inline std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_PATH_PARTS_H_

#include "vmm/ktvm_process.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ktvm::vmm::testing {

KtvmResult RunKtvm(const std::string& args) {
  return RunKtvmCommand(kKtvmBinary, args);
}

KtvmResult RunKtvmCommand(const std::string& command, const std::string& args) {
  const std::string cmd = absl::StrCat(command, " ", args, " 2>&1 </dev/null");
  KtvmResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, "ktvm: error: ")) {
      ++r.error_lines;
      r.error_line = line;
    }
  }
  return r;
}

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string PrintedReportPath(const std::string& output) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "ktvm:   report    ")) continue;
    return std::string(rest.substr(0, rest.find(" (")));
  }
  return "";
}

}  // namespace ktvm::vmm::testing

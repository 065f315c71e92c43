#include "vmm/parse_flags.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "absl/flags/parse.h"

namespace ktvm::vmm {
namespace {

// Exit status to force while the parser runs; -1 = leave exit() alone.
std::atomic<int> g_forced_exit_code{-1};

// Abseil leaves through exit(), so atexit handlers run: replace the status
// there. stdio is flushed by hand because _exit() skips it.
void ForceExitCode() {
  const int code = g_forced_exit_code.load();
  if (code < 0) return;
  std::fflush(nullptr);
  _exit(code);
}

bool AsksForHelpOrVersion(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "-h" || arg == "--version" || arg == "-version" ||
        arg.rfind("--help", 0) == 0 || arg.rfind("-help", 0) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<char*> ParseFlagsWithExitCodes(int argc, char** argv,
                                           int usage_exit_code) {
  static const bool registered = std::atexit(ForceExitCode) == 0;
  (void)registered;
  g_forced_exit_code = AsksForHelpOrVersion(argc, argv) ? 0 : usage_exit_code;
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  g_forced_exit_code = -1;
  return positional;
}

std::vector<std::string> RepeatedFlagValues(int argc, char** argv,
                                            std::string_view name) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) == 0) {
      arg.remove_prefix(2);
    } else if (arg.rfind("-", 0) == 0) {
      arg.remove_prefix(1);
    } else {
      continue;
    }
    if (arg.substr(0, name.size()) != name) continue;
    arg.remove_prefix(name.size());
    if (arg.empty() && i + 1 < argc) {
      values.emplace_back(argv[++i]);
    } else if (!arg.empty() && arg[0] == '=') {
      values.emplace_back(arg.substr(1));
    }
  }
  return values;
}

}  // namespace ktvm::vmm

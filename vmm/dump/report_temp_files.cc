#include "vmm/dump/report_temp_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "vmm/dump/path_parts.h"

namespace ktvm::dump {
namespace {

constexpr absl::string_view kTempMarker = ".tmp-";
constexpr int kMaxDirectoryEntries = 100000;

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

struct CloseDir {
  void operator()(DIR* d) const { closedir(d); }
};

}  // namespace

std::string ReportTempPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%s/.%s%s%d-%d-%016x", DirectoryOf(path),
                         BaseName(path), kTempMarker, getpid(),
                         counter.fetch_add(1), rng());
}

pid_t WriterPidOfReportTempName(absl::string_view name) {
  if (!absl::StartsWith(name, ".")) return 0;
  const size_t marker = name.rfind(kTempMarker);
  if (marker == absl::string_view::npos || marker == 0) return 0;
  const std::vector<absl::string_view> parts =
      absl::StrSplit(name.substr(marker + kTempMarker.size()), '-');
  if (parts.size() != 3 || !AllDigits(parts[0]) || !AllDigits(parts[1]) ||
      parts[2].size() != 16) {
    return 0;
  }
  for (char c : parts[2]) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return 0;
  }
  int pid = 0;
  if (!absl::SimpleAtoi(parts[0], &pid) || pid <= 0) return 0;
  return pid;
}

int RemoveStaleReportTempFiles(const std::string& dir, absl::Time older_than) {
  std::unique_ptr<DIR, CloseDir> d(opendir(dir.c_str()));
  if (d == nullptr) return 0;
  const pid_t self = getpid();
  int removed = 0;
  for (int seen = 0; seen < kMaxDirectoryEntries; ++seen) {
    const dirent* e = readdir(d.get());
    if (e == nullptr) break;
    const pid_t writer = WriterPidOfReportTempName(e->d_name);
    if (writer == 0 || writer == self) continue;
    if (kill(writer, 0) == 0 || errno != ESRCH) continue;
    struct stat st;
    if (fstatat(dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) ||
        absl::TimeFromTimespec(st.st_mtim) >= older_than) {
      continue;
    }
    if (unlinkat(dirfd(d.get()), e->d_name, 0) == 0) ++removed;
  }
  return removed;
}

absl::Time ProcessStartTime() {
  static const absl::Time start = [] {
    // Field 22 of /proc/self/stat: start time in clock ticks after boot;
    // the fields after the parenthesised command name begin at field 3.
    std::ifstream stat_file("/proc/self/stat");
    std::stringstream stat_text;
    stat_text << stat_file.rdbuf();
    const std::string stat = stat_text.str();
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return absl::InfinitePast();
    const std::vector<absl::string_view> fields = absl::StrSplit(
        absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
    uint64_t ticks = 0;
    if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) {
      return absl::InfinitePast();
    }
    std::ifstream proc_stat("/proc/stat");
    int64_t boot_seconds = -1;
    for (std::string line; std::getline(proc_stat, line);) {
      absl::string_view rest = line;
      if (absl::ConsumePrefix(&rest, "btime ") &&
          absl::SimpleAtoi(rest, &boot_seconds)) {
        break;
      }
    }
    const long hz = sysconf(_SC_CLK_TCK);
    if (boot_seconds < 0 || hz <= 0) return absl::InfinitePast();
    return absl::FromUnixSeconds(boot_seconds) +
           absl::Seconds(static_cast<double>(ticks) / hz);
  }();
  return start;
}

}  // namespace ktvm::dump

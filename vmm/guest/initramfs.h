// Builds the guest's initramfs: a cpio "newc" archive, compressed, holding the
// ktvm init as /init, the scheduler with its shared libraries and ELF
// interpreter, busybox (as /bin/sh and friends) and user-chosen files, plus
// /ktvm/config telling the init what to run (format in vmm/guest/README.md).
#ifndef KTVM_VMM_GUEST_INITRAMFS_H_
#define KTVM_VMM_GUEST_INITRAMFS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ktvm::guest {

// Guest path of the scheduler binary and of the init's configuration file.
inline constexpr std::string_view kGuestSchedulerPath = "/ktvm/scheduler";
inline constexpr std::string_view kGuestConfigPath = "/ktvm/config";
// Where busybox-static lives when installed.
inline constexpr std::string_view kDefaultBusyboxPath = "/bin/busybox";

enum class InitramfsCompression { kNone, kGzip, kZstd };

struct IncludeFile {
  std::string host_path;
  std::string guest_path;  // absolute
};

struct InitramfsSpec {
  std::string init_path;       // static ktvm init, required -> /init
  std::string scheduler_path;  // optional -> kGuestSchedulerPath (+ its libs)
  std::vector<std::string> scheduler_args;
  std::string run_command;  // optional; run with /bin/sh -c when busybox is in
  // Empty: kDefaultBusyboxPath if it exists, else none.
  std::string busybox_path;
  bool include_busybox = true;
  std::vector<IncludeFile> includes;
  int scheduler_enable_timeout_ms = 20000;
  int workload_timeout_ms = 0;  // 0: no guest-side workload timeout
  InitramfsCompression compression = InitramfsCompression::kZstd;
};

// Parses a --include value "host:guest" (guest path absolute, no "..").
absl::StatusOr<IncludeFile> ParseIncludePair(std::string_view host_colon_guest);

// The /ktvm/config text the init reads for `spec`.
std::string RenderInitConfig(const InitramfsSpec& spec);

absl::StatusOr<std::string> BuildInitramfs(const InitramfsSpec& spec);
// Builds and writes atomically (temp file + rename) to `path`.
absl::Status WriteInitramfs(const InitramfsSpec& spec, const std::string& path);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_INITRAMFS_H_

#include "vmm/sched_ext_support.h"

#include <bpf/btf.h>
#include <linux/btf.h>

#include <algorithm>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"
#include "vmm/x86_64/setup_header.h"

namespace ktvm::vmm {
namespace {

// The header's kernel_version field is an offset from the end of the boot
// sector (0x200).
constexpr size_t kKernelVersionBase = 0x200;
// A release string is far shorter; the bound keeps a corrupt offset from
// walking the whole image.
constexpr size_t kMaxReleaseBytes = 128;

}  // namespace

std::string KernelRelease(absl::Span<const uint8_t> bzimage) {
  absl::StatusOr<x86_64::BzImage> bz = x86_64::ParseBzImage(bzimage);
  if (!bz.ok() || bz->header.kernel_version == 0) return "";
  const size_t start = kKernelVersionBase + bz->header.kernel_version;
  if (start >= bzimage.size()) return "";
  const size_t end = std::min(bzimage.size(), start + kMaxReleaseBytes);
  std::string release;
  // The release is the first word ("6.1.0-56-amd64 (debian-kernel@...)").
  for (size_t i = start; i < end && bzimage[i] > ' ' && bzimage[i] < 0x7f;
       ++i) {
    release.push_back(static_cast<char>(bzimage[i]));
  }
  return release;
}

absl::Status CheckSchedExtInBtf(const struct ::btf* vmlinux_btf,
                                const std::string& kernel_path,
                                const std::string& release) {
  if (btf::FindType(vmlinux_btf, "sched_ext_ops", BTF_KIND_STRUCT).ok()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "--kernel %s: Linux %s has no sched_ext (no struct sched_ext_ops in "
      "its BTF); a --scheduler needs a kernel built with "
      "CONFIG_SCHED_CLASS_EXT=y",
      kernel_path, release.empty() ? "(release unknown)" : release));
}

}  // namespace ktvm::vmm

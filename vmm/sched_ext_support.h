// Whether a kernel can run a sched_ext scheduler at all, decided from the
// bzImage before anything boots: a kernel built without
// CONFIG_SCHED_CLASS_EXT would otherwise only show it as a scheduler that
// fails to attach, late and without naming the cause.
#ifndef KTVM_VMM_SCHED_EXT_SUPPORT_H_
#define KTVM_VMM_SCHED_EXT_SUPPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

struct btf;

namespace ktvm::vmm {

// The release ("6.1.0-56-amd64") from the bzImage's kernel_version string,
// or "" when the image has none.
std::string KernelRelease(absl::Span<const uint8_t> bzimage);

// OK when `vmlinux_btf` has `struct sched_ext_ops`; otherwise an
// InvalidArgument naming the kernel, its release and the missing config.
absl::Status CheckSchedExtInBtf(const struct ::btf* vmlinux_btf,
                                const std::string& kernel_path,
                                const std::string& release);

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_SCHED_EXT_SUPPORT_H_

// Measures how fast KVM runs guest code on this host by timing a tiny
// calibration guest: a 3-instruction loop (nop; dec; jnz) in long mode. With
// VMX/SVM this runs at >1e9 instructions/s; under PVM or any emulating KVM
// it crawls (~1.4e6/s), which is too slow for a Linux kernel.
#ifndef KTVM_VMM_X86_64_SPEED_PROBE_H_
#define KTVM_VMM_X86_64_SPEED_PROBE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ktvm::vmm::x86_64 {

struct SpeedProbe {
  uint64_t instructions;
  absl::Duration elapsed;
  double instructions_per_second;
  bool pvm_module_loaded;  // /sys/module/kvm_pvm exists
  // Fast enough for a stock Linux kernel (>= kNativeThreshold).
  bool native;
};

// Anything below this many instructions per second is emulation, not
// hardware virtualisation (native is 2-3 orders of magnitude faster).
inline constexpr double kNativeThreshold = 1e8;

absl::StatusOr<SpeedProbe> ProbeKvmSpeed(const std::string& kvm_device_path,
                                         uint32_t loop_iterations = 20000);

std::string DescribeSpeedProbe(const SpeedProbe& probe);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_SPEED_PROBE_H_

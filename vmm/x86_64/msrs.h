// MSR values a vCPU starts with, as firmware would leave them.
#ifndef KTVM_VMM_X86_64_MSRS_H_
#define KTVM_VMM_X86_64_MSRS_H_

#include <cstdint>
#include <vector>

#include "vmm/kvm/vcpu.h"

namespace ktvm::vmm::x86_64 {

inline constexpr uint32_t kMsrSysenterCs = 0x174;
inline constexpr uint32_t kMsrSysenterEsp = 0x175;
inline constexpr uint32_t kMsrSysenterEip = 0x176;
inline constexpr uint32_t kMsrMiscEnable = 0x1a0;
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
inline constexpr uint32_t kMsrEfer = 0xc0000080;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrFsBase = 0xc0000100;
inline constexpr uint32_t kMsrGsBase = 0xc0000101;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
inline constexpr uint32_t kMsrTsc = 0x10;

// Zeroed syscall MSRs, fast strings on, MTRRs enabled with write-back
// default (otherwise Linux treats all memory as uncached).
std::vector<MsrValue> BootMsrs();

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_MSRS_H_

#include "vmm/x86_64/msrs.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint64_t kMiscEnableFastString = 1;
constexpr uint64_t kMtrrEnable = 1ULL << 11;
constexpr uint64_t kMtrrTypeWriteBack = 6;

}  // namespace

std::vector<MsrValue> BootMsrs() {
  return {
      {kMsrSysenterCs, 0},
      {kMsrSysenterEsp, 0},
      {kMsrSysenterEip, 0},
      {kMsrStar, 0},
      {kMsrCstar, 0},
      {kMsrKernelGsBase, 0},
      {kMsrSyscallMask, 0},
      {kMsrLstar, 0},
      {kMsrTsc, 0},
      {kMsrMiscEnable, kMiscEnableFastString},
      {kMsrMtrrDefType, kMtrrEnable | kMtrrTypeWriteBack},
  };
}

}  // namespace ktvm::vmm::x86_64

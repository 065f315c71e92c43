#include "vmm/kvm/kvm_abi.h"

#include <cstdio>

#include "gtest/gtest.h"

extern "C" {
extern const unsigned long ktvm_c_kvm_get_supported_cpuid;
extern const unsigned long ktvm_c_kvm_get_msr_index_list;
extern const unsigned long ktvm_c_kvm_set_cpuid2;
extern const unsigned long ktvm_c_kvm_get_msrs;
extern const unsigned long ktvm_c_kvm_set_msrs;
extern const unsigned long ktvm_c_kvm_set_gsi_routing;
extern const unsigned long ktvm_c_cpuid2_entries_offset;
extern const unsigned long ktvm_c_msrs_entries_offset;
extern const unsigned long ktvm_c_routing_entries_offset;
}

namespace ktvm::vmm::kvm_abi {
namespace {

// The C compiler's numbers are the kernel's: ours must equal them.
TEST(KvmAbiTest, IoctlNumbersMatchTheCLayout) {
  EXPECT_EQ(kGetSupportedCpuid, ktvm_c_kvm_get_supported_cpuid);
  EXPECT_EQ(kGetMsrIndexList, ktvm_c_kvm_get_msr_index_list);
  EXPECT_EQ(kSetCpuid2, ktvm_c_kvm_set_cpuid2);
  EXPECT_EQ(kGetMsrs, ktvm_c_kvm_get_msrs);
  EXPECT_EQ(kSetMsrs, ktvm_c_kvm_set_msrs);
  EXPECT_EQ(kSetGsiRouting, ktvm_c_kvm_set_gsi_routing);
}

TEST(KvmAbiTest, EntriesFollowTheEightByteHeader) {
  EXPECT_EQ(kEntriesOffset, ktvm_c_cpuid2_entries_offset);
  EXPECT_EQ(kEntriesOffset, ktvm_c_msrs_entries_offset);
  EXPECT_EQ(kEntriesOffset, ktvm_c_routing_entries_offset);
}

// Documents why the header exists: where the C++ view differs, the macro
// numbers are wrong. (On headers that special-case C++ both agree.)
TEST(KvmAbiTest, CxxViewOfTheHeadersIsReported) {
  if (KVM_SET_CPUID2 != kSetCpuid2) {
    std::printf("NOTE: these linux/kvm.h headers give C++ KVM_SET_CPUID2 = "
                "0x%lx, the kernel's is 0x%lx\n",
                static_cast<unsigned long>(KVM_SET_CPUID2), kSetCpuid2);
  }
  SUCCEED();
}

}  // namespace
}  // namespace ktvm::vmm::kvm_abi

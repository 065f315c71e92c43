#include "vmm/x86_64/x2apic_topology.h"

#include "gtest/gtest.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

TEST(X2apicTopologyTest, X2apicOnlyAbove254Cpus) {
  EXPECT_FALSE(NeedsX2apic(1));
  EXPECT_FALSE(NeedsX2apic(kMaxXapicVcpus));
  EXPECT_TRUE(NeedsX2apic(kMaxXapicVcpus + 1));
  EXPECT_TRUE(NeedsX2apic(1024));
}

TEST(X2apicTopologyTest, IoapicIdFollowsTheCpusOnlyInXapicTopologies) {
  EXPECT_EQ(IoapicId(4), 4);
  EXPECT_EQ(IoapicId(kMaxXapicVcpus), kMaxXapicVcpus);
  EXPECT_EQ(IoapicId(300), 0);
}

// This machine's kvm_pvm: 1024 vCPUs, ids below 4096, both capabilities.
TEST(X2apicTopologyTest, LimitIsKvmsVcpuCountWhenX2apicWorks) {
  const VcpuLimit l = MaxVcpus({1024, 4096, true, true});
  EXPECT_EQ(l.max_vcpus, 1024);
  EXPECT_EQ(l.factors,
            "KVM_CAP_MAX_VCPUS 1024, KVM_CAP_MAX_VCPU_ID 4096, ktvm's ACPI "
            "tables 4096");
}

TEST(X2apicTopologyTest, LimitIsTheSmallestFactor) {
  EXPECT_EQ(MaxVcpus({8192, 4096, true, true}).max_vcpus, 4096);
  EXPECT_EQ(MaxVcpus({8192, 16384, true, true}).max_vcpus, kMaxAcpiCpus);
  EXPECT_EQ(MaxVcpus({288, 0, true, true}).max_vcpus, 288);
  EXPECT_EQ(MaxVcpus({16, 4096, true, true}).max_vcpus, 16);
}

TEST(X2apicTopologyTest, WithoutSplitIrqchipOrX2apicApiOnlyXapicIds) {
  const VcpuLimit no_split = MaxVcpus({1024, 4096, false, true});
  EXPECT_EQ(no_split.max_vcpus, kMaxXapicVcpus);
  EXPECT_NE(no_split.factors.find("lacks KVM_CAP_SPLIT_IRQCHIP"),
            std::string::npos)
      << no_split.factors;
  const VcpuLimit no_api = MaxVcpus({1024, 4096, true, false});
  EXPECT_EQ(no_api.max_vcpus, kMaxXapicVcpus);
  EXPECT_NE(no_api.factors.find("lacks KVM_CAP_X2APIC_API"), std::string::npos)
      << no_api.factors;
  EXPECT_EQ(MaxVcpus({0, 0, false, false}).max_vcpus, 1);
}

}  // namespace
}  // namespace ktvm::vmm::x86_64

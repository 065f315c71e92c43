#include "vmm/x86_64/cpuid.h"

#include <vector>

#include "gtest/gtest.h"
#include "vmm/x86_64/host_cpuid.h"

namespace ktvm::vmm::x86_64 {
namespace {

kvm_cpuid_entry2 Entry(uint32_t function, uint32_t index, uint32_t eax,
                       uint32_t ebx, uint32_t ecx, uint32_t edx,
                       bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

std::vector<kvm_cpuid_entry2> Synthetic() {
  return {
      Entry(0, 0, 0x1f, 0, 0, 0),
      // Host APIC id 7, 16 logical CPUs, CLFLUSH size 8.
      Entry(1, 0, 0x806f8, 0x07100800, 0x7ffafbff, 0xbfebfbff),
      // L1d (level 1) and L3 (level 3) caches, host sharing bits set.
      Entry(4, 0, 0x1c004121, 0, 0, 0, true),
      Entry(4, 1, 0x1c03c163, 0, 0, 0, true),
      Entry(4, 2, 0, 0, 0, 0, true),
      Entry(0xb, 0, 1, 2, 0x100, 7, true),
      Entry(0xb, 1, 4, 16, 0x201, 7, true),
      Entry(0xb, 2, 0, 0, 2, 7, true),
      Entry(0x1f, 0, 1, 2, 0x100, 7, true),
      Entry(0x1f, 1, 4, 16, 0x201, 7, true),
  };
}

TEST(CpuidTest, CoreIdBits) {
  EXPECT_EQ(CoreIdBits(1), 0u);
  EXPECT_EQ(CoreIdBits(2), 1u);
  EXPECT_EQ(CoreIdBits(3), 2u);
  EXPECT_EQ(CoreIdBits(4), 2u);
  EXPECT_EQ(CoreIdBits(5), 3u);
  EXPECT_EQ(CoreIdBits(254), 8u);
}

TEST(CpuidTest, Leaf1CarriesApicIdAndCount) {
  const auto out = PatchCpuid(Synthetic(), {3, 4});
  const kvm_cpuid_entry2* l1 = FindCpuid(out, 1, 0);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xffff, 0x0800u) << "CLFLUSH/brand kept";
  EXPECT_TRUE(l1->edx & (1u << 28)) << "HTT with several CPUs";
  EXPECT_TRUE(l1->ecx & (1u << 31)) << "hypervisor bit";
}

TEST(CpuidTest, SingleCpuClearsHtt) {
  const auto out = PatchCpuid(Synthetic(), {0, 1});
  EXPECT_FALSE(FindCpuid(out, 1, 0)->edx & (1u << 28));
  EXPECT_EQ(FindCpuid(out, 1, 0)->ebx >> 24, 0u);
}

TEST(CpuidTest, Leaf4CoresAndSharing) {
  const auto out = PatchCpuid(Synthetic(), {0, 4});
  const kvm_cpuid_entry2* l1d = FindCpuid(out, 4, 0);
  const kvm_cpuid_entry2* l3 = FindCpuid(out, 4, 1);
  EXPECT_EQ(l1d->eax >> 26, 3u) << "cores per package - 1";
  EXPECT_EQ((l1d->eax >> 14) & 0xfff, 0u) << "L1 private";
  EXPECT_EQ((l3->eax >> 14) & 0xfff, 3u) << "L3 shared by all";
  EXPECT_EQ(l1d->eax & 0x3fff, 0x0121u) << "cache type/level kept";
  EXPECT_EQ(FindCpuid(out, 4, 2)->eax, 0u) << "terminator untouched";
}

TEST(CpuidTest, TopologyLeaves) {
  const auto out = PatchCpuid(Synthetic(), {5, 6});
  for (uint32_t leaf : {0xbu, 0x1fu}) {
    const kvm_cpuid_entry2* smt = FindCpuid(out, leaf, 0);
    const kvm_cpuid_entry2* core = FindCpuid(out, leaf, 1);
    ASSERT_NE(smt, nullptr);
    ASSERT_NE(core, nullptr);
    EXPECT_EQ(smt->ebx, 1u);
    EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u) << "SMT level";
    EXPECT_EQ(smt->eax, 0u);
    EXPECT_EQ(core->ebx, 6u);
    EXPECT_EQ(core->eax, 3u) << "shift covers 6 cores";
    EXPECT_EQ((core->ecx >> 8) & 0xff, 2u) << "core level";
    EXPECT_EQ(smt->edx, 5u);
    EXPECT_EQ(core->edx, 5u);
  }
  const kvm_cpuid_entry2* end = FindCpuid(out, 0xb, 2);
  EXPECT_EQ((end->ecx >> 8) & 0xff, 0u) << "invalid level ends the list";
  EXPECT_EQ(end->edx, 5u);
}

// 1024 vCPUs, vCPU 1000: the 8-bit fields saturate or carry the low bits,
// the x2APIC bit is on and leaf 0xB carries the full id and count.
TEST(CpuidTest, LargeX2apicTopology) {
  const auto out = PatchCpuid(Synthetic(), {1000, 1024, /*x2apic=*/true});
  const kvm_cpuid_entry2* l1 = FindCpuid(out, 1, 0);
  EXPECT_EQ(l1->ebx >> 24, 1000u & 0xff) << "initial APIC id: low 8 bits";
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 255u) << "logical count saturates";
  EXPECT_TRUE(l1->ecx & (1u << 21)) << "x2APIC";
  EXPECT_TRUE(l1->edx & (1u << 28)) << "HTT";
  const kvm_cpuid_entry2* l3 = FindCpuid(out, 4, 1);
  EXPECT_EQ(l3->eax >> 26, 63u) << "cores field saturates at 6 bits";
  EXPECT_EQ((l3->eax >> 14) & 0xfff, 1023u) << "L3 shared by all";
  for (uint32_t leaf : {0xbu, 0x1fu}) {
    const kvm_cpuid_entry2* core = FindCpuid(out, leaf, 1);
    ASSERT_NE(core, nullptr);
    EXPECT_EQ(core->ebx, 1024u);
    EXPECT_EQ(core->eax, 10u) << "shift covers 1024 cores";
    EXPECT_EQ(core->edx, 1000u) << "full x2APIC id";
  }
}

// 300 vCPUs: counts that do not fit the narrow fields are clamped, never
// wrapped (299 & 0x3f would claim 44 cores).
TEST(CpuidTest, NarrowFieldsSaturateInsteadOfWrapping) {
  const auto out = PatchCpuid(Synthetic(), {299, 300, true});
  EXPECT_EQ(FindCpuid(out, 4, 0)->eax >> 26, 63u);
  EXPECT_EQ((FindCpuid(out, 1, 0)->ebx >> 16) & 0xff, 255u);
  EXPECT_EQ(FindCpuid(out, 0xb, 1)->eax, 9u);
}

// A CPUID table without leaf 0xB (max basic leaf below it) gets one when
// the topology is x2APIC: otherwise the guest could not learn ids > 255.
TEST(CpuidTest, X2apicAddsTopologyLeafWhenMissing) {
  const std::vector<kvm_cpuid_entry2> small = {
      Entry(0, 0, 0xa, 0, 0, 0),
      Entry(1, 0, 0x806f8, 0x07100800, 0x7ffafbff, 0xbfebfbff),
  };
  const auto xapic = PatchCpuid(small, {3, 4});
  EXPECT_EQ(FindCpuid(xapic, 0xb, 0), nullptr) << "xAPIC: left alone";
  EXPECT_EQ(FindCpuid(xapic, 0, 0)->eax, 0xau);

  const auto out = PatchCpuid(small, {400, 512, true});
  EXPECT_EQ(FindCpuid(out, 0, 0)->eax, 0xbu) << "max basic leaf raised";
  const kvm_cpuid_entry2* smt = FindCpuid(out, 0xb, 0);
  const kvm_cpuid_entry2* core = FindCpuid(out, 0xb, 1);
  const kvm_cpuid_entry2* end = FindCpuid(out, 0xb, 2);
  ASSERT_NE(smt, nullptr);
  ASSERT_NE(core, nullptr);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
  EXPECT_EQ(core->ebx, 512u);
  EXPECT_EQ(core->eax, 9u);
  EXPECT_EQ(smt->edx, 400u);
  EXPECT_EQ(end->edx, 400u);
  EXPECT_EQ(out.size(), small.size() + 3);
}

TEST(CpuidTest, HostLeavesPatchPerCpu) {
  const std::vector<kvm_cpuid_entry2> host = HostCpuidEntries();
  ASSERT_NE(FindCpuid(host, 0, 0), nullptr);
  ASSERT_NE(FindCpuid(host, 1, 0), nullptr);
  EXPECT_FALSE(FindCpuid(host, 1, 0)->ecx & (1u << 5)) << "VMX hidden";
  for (uint32_t cpu = 0; cpu < 4; ++cpu) {
    const auto out = PatchCpuid(host, {cpu, 4});
    EXPECT_EQ(FindCpuid(out, 1, 0)->ebx >> 24, cpu);
    EXPECT_EQ(out.size(), host.size());
  }
}

}  // namespace
}  // namespace ktvm::vmm::x86_64

// ACPI and MP tables, GDT and page tables: checksums, one entry per CPU, and
// the descriptors KVM will load.
#include <algorithm>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/x86_64/acpi.h"
#include "vmm/x86_64/gdt.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/mptable.h"
#include "vmm/x86_64/page_tables.h"
#include "vmm/x86_64/table_writer.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm::x86_64 {
namespace {

template <typename T>
T Get(const std::vector<uint8_t>& b, size_t off) {
  T v;
  std::memcpy(&v, &b[off], sizeof(v));
  return v;
}

uint8_t Sum(const std::vector<uint8_t>& b, size_t off, size_t len) {
  return ByteSum(absl::MakeConstSpan(b).subspan(off, len));
}

class TablesPerCpuTest : public ::testing::TestWithParam<int> {};

TEST_P(TablesPerCpuTest, MpTable) {
  const int cpus = GetParam();
  absl::StatusOr<std::vector<uint8_t>> mp = BuildMpTable(cpus, kMptableAddr);
  ASSERT_TRUE(mp.ok()) << mp.status();
  const std::vector<uint8_t>& b = *mp;
  ASSERT_EQ(std::memcmp(b.data(), "_MP_", 4), 0);
  EXPECT_EQ(Sum(b, 0, 16), 0);
  const uint32_t table_addr = Get<uint32_t>(b, 4);
  ASSERT_EQ(table_addr, kMptableAddr + 16);
  const size_t t = table_addr - kMptableAddr;
  ASSERT_EQ(std::memcmp(&b[t], "PCMP", 4), 0);
  const uint16_t length = Get<uint16_t>(b, t + 4);
  EXPECT_EQ(Sum(b, t, length), 0);
  EXPECT_EQ(Get<uint32_t>(b, t + 36), kLapicAddr);
  const uint16_t entries = Get<uint16_t>(b, t + 34);
  size_t e = t + 44;
  int processors = 0, ioapics = 0, io_ints = 0, local_ints = 0, buses = 0;
  for (int i = 0; i < entries; ++i) {
    ASSERT_LT(e, t + length);
    switch (b[e]) {
      case 0:
        EXPECT_EQ(b[e + 1], processors) << "APIC ids are the vCPU indices";
        EXPECT_EQ(b[e + 3] & 1, 1) << "enabled";
        EXPECT_EQ((b[e + 3] >> 1) & 1, processors == 0 ? 1 : 0) << "BSP";
        ++processors;
        e += 20;
        break;
      case 1:
        ++buses;
        e += 8;
        break;
      case 2:
        ++ioapics;
        EXPECT_EQ(Get<uint32_t>(b, e + 4), kIoapicAddr);
        e += 8;
        break;
      case 3:
        ++io_ints;
        e += 8;
        break;
      case 4:
        ++local_ints;
        e += 8;
        break;
      default:
        FAIL() << "unknown MP entry type " << int(b[e]);
    }
  }
  EXPECT_EQ(e, t + length);
  EXPECT_EQ(processors, cpus);
  EXPECT_EQ(buses, 1);
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(io_ints, 16);
  EXPECT_EQ(local_ints, 2);
  EXPECT_LE(b.size(), kMptableMaxBytes);
}

class AcpiPerCpuTest : public ::testing::TestWithParam<int> {};

TEST_P(AcpiPerCpuTest, Acpi) {
  const int cpus = GetParam();
  absl::StatusOr<AcpiTables> acpi = BuildAcpiTables(cpus, kAcpiRsdpAddr);
  ASSERT_TRUE(acpi.ok()) << acpi.status();
  const std::vector<uint8_t>& b = acpi->bytes;
  auto off = [](uint64_t addr) { return addr - kAcpiRsdpAddr; };
  ASSERT_EQ(std::memcmp(b.data(), "RSD PTR ", 8), 0);
  EXPECT_EQ(Sum(b, 0, 20), 0) << "RSDP v1 checksum";
  EXPECT_EQ(Sum(b, 0, kRsdpSize), 0) << "RSDP extended checksum";
  EXPECT_EQ(b[15], 2) << "revision";
  EXPECT_EQ(Get<uint64_t>(b, 24), acpi->xsdt_addr);

  const size_t x = off(acpi->xsdt_addr);
  ASSERT_EQ(std::memcmp(&b[x], "XSDT", 4), 0);
  const uint32_t xlen = Get<uint32_t>(b, x + 4);
  EXPECT_EQ(Sum(b, x, xlen), 0);
  ASSERT_EQ(xlen, kAcpiHeaderSize + 16);
  EXPECT_EQ(Get<uint64_t>(b, x + 36), acpi->fadt_addr);
  EXPECT_EQ(Get<uint64_t>(b, x + 44), acpi->madt_addr);

  const size_t f = off(acpi->fadt_addr);
  ASSERT_EQ(std::memcmp(&b[f], "FACP", 4), 0);
  EXPECT_EQ(Get<uint32_t>(b, f + 4), kFadtSize);
  EXPECT_EQ(Sum(b, f, kFadtSize), 0);
  EXPECT_EQ(Get<uint64_t>(b, f + 140), acpi->dsdt_addr);
  EXPECT_TRUE(Get<uint32_t>(b, f + 112) & (1u << 20)) << "HW_REDUCED_ACPI";

  const size_t d = off(acpi->dsdt_addr);
  ASSERT_EQ(std::memcmp(&b[d], "DSDT", 4), 0);
  EXPECT_EQ(Sum(b, d, Get<uint32_t>(b, d + 4)), 0);

  const size_t m = off(acpi->madt_addr);
  ASSERT_EQ(std::memcmp(&b[m], "APIC", 4), 0);
  const uint32_t mlen = Get<uint32_t>(b, m + 4);
  EXPECT_EQ(Sum(b, m, mlen), 0);
  EXPECT_EQ(Get<uint32_t>(b, m + 36), kLapicAddr);
  // PC-AT compatible PICs exist only with the full in-kernel irqchip.
  EXPECT_EQ(Get<uint32_t>(b, m + 40), NeedsX2apic(cpus) ? 0u : 1u);
  // Every CPU exactly once, in id order: type 0 up to id 254, type 9 after.
  int lapics = 0, x2apics = 0, ioapics = 0, nmis = 0, x2nmis = 0;
  for (size_t e = m + 44; e < m + mlen;) {
    const uint8_t type = b[e], len = b[e + 1];
    ASSERT_GT(len, 0);
    ASSERT_LE(e + len, m + mlen);
    if (type == 0) {
      ASSERT_EQ(len, 8);
      EXPECT_EQ(x2apics, 0) << "type-0 entries come first";
      EXPECT_EQ(b[e + 2], lapics) << "processor UID";
      EXPECT_EQ(b[e + 3], lapics) << "APIC id";
      EXPECT_EQ(Get<uint32_t>(b, e + 4), 1u) << "enabled";
      ++lapics;
    } else if (type == 9) {
      ASSERT_EQ(len, 16);
      const uint32_t id = Get<uint32_t>(b, e + 4);
      EXPECT_EQ(id, static_cast<uint32_t>(lapics + x2apics)) << "x2APIC id";
      EXPECT_GT(id, 254u) << "x2APIC entries only for ids above 254";
      EXPECT_EQ(Get<uint32_t>(b, e + 8), 1u) << "enabled";
      EXPECT_EQ(Get<uint32_t>(b, e + 12), id) << "processor UID";
      ++x2apics;
    } else if (type == 1) {
      ASSERT_EQ(len, 12);
      EXPECT_EQ(b[e + 2], IoapicId(cpus));
      EXPECT_EQ(Get<uint32_t>(b, e + 4), kIoapicAddr);
      EXPECT_EQ(Get<uint32_t>(b, e + 8), 0u) << "GSI base";
      ++ioapics;
    } else if (type == 4) {
      ASSERT_EQ(len, 6);
      EXPECT_EQ(b[e + 2], 0xff) << "all processors";
      EXPECT_EQ(b[e + 5], 1) << "LINT1";
      ++nmis;
    } else if (type == 10) {
      ASSERT_EQ(len, 12);
      EXPECT_EQ(Get<uint32_t>(b, e + 4), 0xffffffffu) << "all processors";
      EXPECT_EQ(b[e + 8], 1) << "LINT1";
      ++x2nmis;
    } else {
      ADD_FAILURE() << "unexpected MADT entry type " << int{type};
    }
    e += len;
  }
  EXPECT_EQ(lapics, std::min(cpus, 255));
  EXPECT_EQ(x2apics, std::max(cpus - 255, 0));
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(nmis, 1);
  EXPECT_EQ(x2nmis, cpus > 255 ? 1 : 0);
  EXPECT_LE(b.size(), kAcpiMaxBytes);
}

INSTANTIATE_TEST_SUITE_P(Cpus, TablesPerCpuTest,
                         ::testing::Values(1, 2, 4, 64, kMaxXapicVcpus));
// Across the xAPIC/x2APIC boundary up to the largest MADT ktvm writes.
INSTANTIATE_TEST_SUITE_P(Cpus, AcpiPerCpuTest,
                         ::testing::Values(1, 2, 4, 64, kMaxXapicVcpus, 255,
                                           256, 300, 1024, kMaxAcpiCpus));

TEST(TablesTest, RejectCpuCountsOutOfRange) {
  EXPECT_FALSE(BuildMpTable(0, kMptableAddr).ok());
  EXPECT_FALSE(BuildMpTable(kMaxXapicVcpus + 1, kMptableAddr).ok());
  EXPECT_FALSE(BuildAcpiTables(0, kAcpiRsdpAddr).ok());
  EXPECT_FALSE(BuildAcpiTables(kMaxAcpiCpus + 1, kAcpiRsdpAddr).ok());
}

TEST(TablesTest, TablesFitTheirAreas) {
  EXPECT_LE(kAcpiRsdpAddr + kAcpiMaxBytes, kMptableAddr);
  EXPECT_LE(kMptableAddr + kMptableMaxBytes, kBiosAreaEnd);
}

TEST(GdtTest, EncodesFlat64BitCode) {
  const auto gdt = BootGdt64();
  const kvm_segment cs = SegmentFromGdtEntry(gdt[2], kBootCodeSelector);
  EXPECT_EQ(cs.base, 0u);
  EXPECT_EQ(cs.limit, 0xffffffffu);
  EXPECT_EQ(cs.l, 1);
  EXPECT_EQ(cs.db, 0);
  EXPECT_EQ(cs.present, 1);
  EXPECT_EQ(cs.s, 1);
  EXPECT_EQ(cs.type, 0xb);
  const kvm_segment ds = SegmentFromGdtEntry(gdt[3], kBootDataSelector);
  EXPECT_EQ(ds.db, 1);
  EXPECT_EQ(ds.type, 0x3);
  const kvm_segment cs32 = SegmentFromGdtEntry(BootGdt32()[2], 0x10);
  EXPECT_EQ(cs32.l, 0);
  EXPECT_EQ(cs32.db, 1);
}

TEST(GdtTest, RoundTripsBaseAndLimit) {
  const uint64_t e = GdtEntry(0x4093, 0x12345678, 0xabcde);
  const kvm_segment s = SegmentFromGdtEntry(e, 0x18);
  EXPECT_EQ(s.base, 0x12345678u);
  EXPECT_EQ(s.limit, 0xabcdeu);  // byte granular
  EXPECT_EQ(s.g, 0);
}

TEST(PageTablesTest, IdentityMapsFourGiB) {
  const std::vector<uint8_t> t = BuildIdentityPageTables();
  ASSERT_EQ(t.size(), 6 * kPageSize);
  EXPECT_EQ(Get<uint64_t>(t, 0), kPdptAddr | 3);
  for (int gib = 0; gib < 4; ++gib) {
    EXPECT_EQ(Get<uint64_t>(t, kPageSize + gib * 8),
              (kPdAddr + gib * kPageSize) | 3);
  }
  // Walk a few addresses: the LAPIC page, 16 MiB and the last 2 MiB.
  for (uint64_t va : {uint64_t{kLapicAddr}, uint64_t{0x1000000},
                      uint64_t{0xffe00000}, uint64_t{0}}) {
    const uint64_t pdpte = Get<uint64_t>(t, kPageSize + (va >> 30) * 8);
    const uint64_t pd = (pdpte & ~0xfffULL) - kPml4Addr;
    const uint64_t pde = Get<uint64_t>(t, pd + ((va >> 21) & 511) * 8);
    EXPECT_TRUE(pde & 0x80) << "2 MiB page";
    EXPECT_EQ(pde & ~0x1fffffULL, va & ~0x1fffffULL);
  }
}

}  // namespace
}  // namespace ktvm::vmm::x86_64

// ktvm's userspace IOAPIC on KVM's split irqchip, with real KVM and no
// guest code: a pin raised in the IOAPIC must land in the IRR of the right
// vCPU's in-kernel LAPIC, including x2APIC ids above 255 (extended
// destination id), and KVM must accept the GSI routes the IOAPIC publishes.
#include <unistd.h>

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/devices/ioapic.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/kvm/vm.h"
#include "vmm/machine.h"
#include "vmm/x86_64/kernel_loader.h"
#include "vmm/x86_64/vcpu_setup.h"

namespace ktvm::vmm {
namespace {

constexpr int kApicSvr = 0xf0;
constexpr uint32_t kApicSvrEnable = 1u << 8;
constexpr int kApicIrr = 0x200;

bool IrrHas(const kvm_lapic_state& lapic, uint8_t vector) {
  uint32_t word;
  std::memcpy(&word, lapic.regs + kApicIrr + (vector / 32) * 0x10, 4);
  return word & (1u << (vector % 32));
}

uint64_t EdgeEntry(uint32_t dest, uint8_t vector) {
  return (uint64_t{dest & 0xff} << 56) | (uint64_t{dest >> 8} << 49) | vector;
}

class SplitIrqchipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kDefaultKvmDevicePath, R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm on this host";
    }
    absl::StatusOr<KvmDevice> kvm = KvmDevice::Open(kDefaultKvmDevicePath);
    ASSERT_TRUE(kvm.ok()) << kvm.status();
    if (Machine::CpuLimit(*kvm).max_vcpus <= kHighVcpu) {
      GTEST_SKIP() << "NOT RUN: " << Machine::CpuLimit(*kvm).factors;
    }
    kvm_ = std::make_unique<KvmDevice>(std::move(*kvm));
    absl::StatusOr<Vm> vm = Vm::Create(*kvm_);
    ASSERT_TRUE(vm.ok()) << vm.status();
    vm_ = std::make_unique<Vm>(std::move(*vm));
    ASSERT_TRUE(vm_->CreateIrqchip(/*split=*/true, kIoapicNumPins).ok());
    ASSERT_TRUE(vm_->EnableX2apicApi().ok());
    absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid =
        kvm_->GetSupportedCpuid();
    ASSERT_TRUE(cpuid.ok()) << cpuid.status();
    // vCPUs 0 and 300 of a 301-vCPU topology, set up as the machine does
    // (CPUID with x2APIC, x2APIC mode), then LAPICs software-enabled as a
    // guest would.
    for (int index : {0, kHighVcpu}) {
      absl::StatusOr<Vcpu> vcpu = Vcpu::Create(*kvm_, *vm_, index);
      ASSERT_TRUE(vcpu.ok()) << vcpu.status();
      auto owned = std::make_unique<Vcpu>(std::move(*vcpu));
      ASSERT_TRUE(x86_64::ConfigureVcpu(*owned, kHighVcpu + 1, *cpuid,
                                        x86_64::KernelBoot{},
                                        x86_64::ApStart::kSipi)
                      .ok());
      absl::StatusOr<kvm_lapic_state> lapic = owned->GetLapic();
      ASSERT_TRUE(lapic.ok()) << lapic.status();
      uint32_t svr;
      std::memcpy(&svr, lapic->regs + kApicSvr, 4);
      svr |= kApicSvrEnable | 0xff;
      std::memcpy(lapic->regs + kApicSvr, &svr, 4);
      ASSERT_TRUE(owned->SetLapic(*lapic).ok());
      vcpus_.push_back(std::move(owned));
    }
    ioapic_ = std::make_unique<Ioapic>(
        0,
        [this](const MsiMessage& msi) {
          absl::StatusOr<bool> r = vm_->SignalMsi(msi.address, msi.data);
          ASSERT_TRUE(r.ok()) << r.status();
          delivered_.push_back(*r);
        },
        [this](const std::vector<IoapicRoute>& routes) {
          std::vector<Vm::MsiRoute> kvm_routes;
          for (const IoapicRoute& r : routes) {
            kvm_routes.push_back(
                {static_cast<uint32_t>(r.pin), r.msi.address, r.msi.data});
          }
          route_status_ = vm_->SetMsiRoutes(kvm_routes);
          routes_ = routes.size();
        });
  }

  void Program(int pin, uint64_t entry) {
    auto write = [this](uint64_t offset, uint32_t v) {
      ioapic_->Write(offset,
                     absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&v), 4));
    };
    write(0x00, 0x10 + 2 * pin + 1);
    write(0x10, static_cast<uint32_t>(entry >> 32));
    write(0x00, 0x10 + 2 * pin);
    write(0x10, static_cast<uint32_t>(entry));
  }

  kvm_lapic_state Lapic(int i) {
    absl::StatusOr<kvm_lapic_state> l = vcpus_[i]->GetLapic();
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *l : kvm_lapic_state{};
  }

  static constexpr int kHighVcpu = 300;
  std::unique_ptr<KvmDevice> kvm_;
  std::unique_ptr<Vm> vm_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::unique_ptr<Ioapic> ioapic_;
  std::vector<bool> delivered_;
  absl::Status route_status_;
  size_t routes_ = 0;
};

TEST_F(SplitIrqchipTest, PinReachesX2apicIdAbove255) {
  Program(4, EdgeEntry(kHighVcpu, 0x34));  // COM1's pin
  ASSERT_TRUE(route_status_.ok()) << route_status_;
  EXPECT_EQ(routes_, 1u);
  ioapic_->SetIrq(4, true);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_TRUE(delivered_[0]) << "KVM found a LAPIC with x2APIC id 300";
  EXPECT_TRUE(IrrHas(Lapic(1), 0x34));
  EXPECT_FALSE(IrrHas(Lapic(0), 0x34));
  // 300 & 0xff = 44: without the extended id bits it would go nowhere.
  Program(5, EdgeEntry(kHighVcpu & 0xff, 0x35));
  ioapic_->SetIrq(5, true);
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_FALSE(delivered_[1]);
  EXPECT_FALSE(IrrHas(Lapic(1), 0x35));
}

TEST_F(SplitIrqchipTest, LevelPinToBootCpuAndRoutesForEoi) {
  Program(4, EdgeEntry(kHighVcpu, 0x34));
  Program(10, (1ULL << 15) | 0x45);  // level, APIC id 0
  ASSERT_TRUE(route_status_.ok()) << route_status_;
  EXPECT_EQ(routes_, 2u);
  ioapic_->SetIrq(10, true);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_TRUE(delivered_[0]);
  EXPECT_TRUE(IrrHas(Lapic(0), 0x45));
  EXPECT_FALSE(IrrHas(Lapic(1), 0x45));
  // What KVM_EXIT_IOAPIC_EOI delivers once the guest EOIs the vector.
  ioapic_->EndOfInterrupt(0x45);
  EXPECT_EQ(delivered_.size(), 2u) << "still asserted: sent again";
}

}  // namespace
}  // namespace ktvm::vmm

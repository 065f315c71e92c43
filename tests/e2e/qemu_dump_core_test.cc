// A real QEMU dump-guest-memory core of the Debian kernel, read with
// memory::ElfCore and cross-checked against the live guest: registers
// against the gdbstub's, RAM against the shared RAM file, and each vCPU's
// RIP translated through its own CR3 (from the core's QEMU note) to where
// the kernel image arithmetic (VMCOREINFO phys_base) says it must be.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "btf/vmcoreinfo.h"
#include "gtest/gtest.h"
#include "memory/elf_core.h"
#include "memory/virtual_memory.h"
#include "tests/e2e/qemu_guest.h"

namespace ktvm::e2e {
namespace {

constexpr uint64_t kStartKernelMap = 0xffffffff80000000ULL;

// `cpu_model` "max" offers LA57 (Linux then uses 5-level paging);
// "max,la57=off" gives the 4-level paging most hosts have.
void CheckCoreAgainstFrozenGuest(const std::string& cpu_model,
                                 memory::X86PagingMode expected_mode) {
  GuestSpec spec;
  spec.cpu_model = cpu_model;
  spec.scheduler_args = {"--mode=ok"};
  spec.run = "sleep 1000";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  backend::QemuTcgBackend& b = **guest;
  ASSERT_TRUE(b.Start({}).ok());
  ASSERT_TRUE(WaitForEvent(b, guest::ControlEventKind::kWorkloadStarted,
                           absl::Seconds(40)))
      << b.ConsoleTail(4000);
  ASSERT_TRUE(b.Freeze().ok());
  absl::StatusOr<std::vector<report::VcpuState>> regs = b.ReadRegisters();
  ASSERT_TRUE(regs.ok()) << regs.status();

  const std::string path = b.temp_dir() + "/guest.core";
  const absl::Time d0 = absl::Now();
  ASSERT_TRUE(b.DumpGuestMemory(path).ok());
  const absl::Duration dump_time = absl::Now() - d0;
  const absl::Time o0 = absl::Now();
  absl::StatusOr<memory::ElfCore> core = memory::ElfCore::Open(path);
  const absl::Duration open_time = absl::Now() - o0;
  ASSERT_TRUE(core.ok()) << core.status();
  std::printf("dump-guest-memory %s, ElfCore::Open %s, %zu regions, %lu MiB\n",
              absl::FormatDuration(dump_time).c_str(),
              absl::FormatDuration(open_time).c_str(),
              core->memory().regions().size(),
              static_cast<unsigned long>(core->memory().total_bytes() >> 20));

  // Every RAM byte of the core equals the RAM file at the same address.
  // (QEMU also dumps other RAM blocks, e.g. the BIOS ROM at 0xfffc0000.)
  const memory::GuestMemory& live = b.memory();
  uint64_t compared = 0;
  for (const memory::MemoryRegion& r : core->memory().regions()) {
    const uint8_t* in_ram = live.HostPointer(r.guest_phys, r.size);
    if (in_ram == nullptr) {
      std::printf("core region 0x%lx+0x%lx is not guest RAM\n",
                  static_cast<unsigned long>(r.guest_phys),
                  static_cast<unsigned long>(r.size));
      continue;
    }
    ASSERT_EQ(std::memcmp(in_ram, r.host, r.size), 0)
        << "core differs from RAM in region at " << std::hex << r.guest_phys;
    compared += r.size;
  }
  EXPECT_EQ(compared, live.total_bytes());

  // VMCOREINFO (QEMU adds no note without -device vmcoreinfo: scan RAM).
  const memory::MemoryRegion& low = core->memory().regions()[0];
  ASSERT_EQ(low.guest_phys, 0u);
  absl::StatusOr<btf::Vmcoreinfo> info =
      btf::FindVmcoreinfo(absl::MakeConstSpan(low.host, low.size), 0);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(info->phys_base.has_value());

  ASSERT_EQ(core->cpus().size(), regs->size());
  int in_kernel = 0;
  for (size_t i = 0; i < regs->size(); ++i) {
    const auto& gdb = (*regs)[i].x86_64();
    const memory::ElfCoreCpu& cpu = core->cpus()[i];
    ASSERT_TRUE(cpu.prstatus.has_value() && cpu.qemu.has_value()) << i;
    ASSERT_TRUE(cpu.prstatus->x86.has_value());
    EXPECT_EQ(cpu.prstatus->x86->rip, gdb.rip()) << i;
    EXPECT_EQ(cpu.qemu->regs.rip, gdb.rip()) << i;
    EXPECT_EQ(cpu.qemu->regs.rsp, gdb.rsp()) << i;
    EXPECT_EQ(cpu.qemu->cr3, gdb.cr3()) << i;
    EXPECT_EQ(cpu.qemu->cr4, gdb.cr4()) << i;
    const memory::X86_64Translator translator = cpu.qemu->Translator();
    EXPECT_EQ(translator.mode(), expected_mode) << cpu_model;
    if (info->pgtable_l5_enabled.has_value()) {
      EXPECT_EQ(translator.mode() == memory::X86PagingMode::kFiveLevel,
                *info->pgtable_l5_enabled);
    }
    const uint64_t rip = cpu.qemu->regs.rip;
    absl::StatusOr<memory::Translation> t =
        translator.Translate(core->memory(), rip);
    ASSERT_TRUE(t.ok()) << t.status();
    // A vCPU may be in user space (the scheduler's loader); kernel text
    // must sit where the image arithmetic says.
    if (rip >= kStartKernelMap) {
      EXPECT_EQ(t->phys_addr, rip - kStartKernelMap + *info->phys_base);
      ++in_kernel;
    }
    std::printf("vCPU %zu: %s, rip 0x%lx -> pa 0x%lx (%lu KiB page)\n", i,
                translator.Describe().c_str(), rip, t->phys_addr,
                static_cast<unsigned long>(t->page_size >> 10));
    // The same code bytes through the core and through the live RAM file.
    uint8_t from_core[64], from_ram[64];
    ASSERT_TRUE(memory::TranslatedMemory(core->memory(), translator)
                    .ReadVirtual(rip, absl::MakeSpan(from_core))
                    .ok());
    ASSERT_TRUE(memory::TranslatedMemory(live, translator)
                    .ReadVirtual(rip, absl::MakeSpan(from_ram))
                    .ok());
    EXPECT_EQ(std::memcmp(from_core, from_ram, sizeof(from_ram)), 0);
  }
  EXPECT_GE(in_kernel, 1) << "no vCPU was in the kernel";
  unlink(path.c_str());
  ASSERT_TRUE(b.Stop().ok());
}

TEST(QemuDumpCoreTest, FiveLevelPagingCoreMatchesTheFrozenGuest) {
  CheckCoreAgainstFrozenGuest("max", memory::X86PagingMode::kFiveLevel);
}

TEST(QemuDumpCoreTest, FourLevelPagingCoreMatchesTheFrozenGuest) {
  CheckCoreAgainstFrozenGuest("max,la57=off",
                              memory::X86PagingMode::kFourLevel);
}

}  // namespace
}  // namespace ktvm::e2e

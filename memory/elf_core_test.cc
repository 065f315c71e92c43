#include "memory/elf_core.h"

#include <elf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/elf_core_writer.h"
#include "memory/test_ram.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_page_tables.h"

namespace ktvm::memory {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

void Put64(std::vector<uint8_t>& d, size_t at, uint64_t v) {
  std::memcpy(d.data() + at, &v, 8);
}
void Put32(std::vector<uint8_t>& d, size_t at, uint32_t v) {
  std::memcpy(d.data() + at, &v, 4);
}

// The writer's notes plus the fields this test checks.
std::vector<uint8_t> PrStatusDesc(uint32_t pid, uint64_t rip, uint64_t rsp) {
  std::vector<uint8_t> d = X86PrStatus(pid, rip, rsp);
  Put64(d, 112 + 10 * 8, 0xaaaa);              // rax
  Put64(d, 112 + 22 * 8, 0xffff888007c00000);  // gs_base
  return d;
}

std::vector<uint8_t> QemuDesc(uint64_t rip, uint64_t cr3, uint64_t cr4) {
  std::vector<uint8_t> d = QemuCpuStateNote(rip, cr3, cr4);
  Put64(d, 8, 0xbbbb);                     // rax
  Put32(d, 152, 0x10);                     // cs.selector
  Put64(d, 152 + 4 * 24 + 16, 0x1234000);  // gs.base
  Put64(d, 392, 0x80050033);               // cr0
  Put64(d, 432, 0xffff888007d00000);       // kernel_gs_base
  return d;
}

using Load = CoreSegment;

std::vector<uint8_t> BuildCore(const std::vector<uint8_t>& notes,
                               const std::vector<Load>& loads,
                               uint16_t type = ET_CORE) {
  return WriteElfCore(notes, loads, type);
}

std::string WriteFile(const std::string& name,
                      const std::vector<uint8_t>& bytes) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return path;
}

constexpr uint64_t kVa = 0xffffffff81234000;
constexpr char kVmcoreinfo[] =
    "OSRELEASE=7.3.4\nPAGESIZE=4096\nNUMBER(phys_base)=16777216\n";

// Guest: low RAM [0, 32 KiB) holding page tables, high RAM
// [1 MiB, +8 KiB) holding data that kVa maps to.
class ElfCoreTest : public ::testing::Test {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, 0x8000);
    ram.AddRegion(0x100000, 0x2000);
    return ram;
  }

  void SetUp() override {
    tables_.Map(kVa, 0x101000, X86_64PageTables::k4K);
    for (int i = 0; i < 0x1000; ++i) {
      *ram_.Host(0x101000 + i, 1) = static_cast<uint8_t>(i ^ 0x5a);
    }
    std::vector<uint8_t> info(kVmcoreinfo, kVmcoreinfo + sizeof(kVmcoreinfo));
    info.resize(info.size() + 7, 0);  // The kernel pads with NULs.
    notes_ = EncodeNotes({
        {"CORE", NT_PRSTATUS, PrStatusDesc(0, kVa + 0x10, 0x1)},
        {"CORE", NT_PRSTATUS, PrStatusDesc(7, kVa + 0x20, 0x2)},
        {"QEMU", 0, QemuDesc(kVa + 0x10, tables_.root() | 0x5, 0)},
        {"QEMU", 0, QemuDesc(kVa + 0x20, tables_.root(), 1 << 12)},
        {"VMCOREINFO", 0, info},
    });
  }

  std::vector<Load> Loads() {
    const uint8_t* low = ram_.Host(0, 0x8000);
    const uint8_t* high = ram_.Host(0x100000, 0x2000);
    return {
        {0x100000, std::vector<uint8_t>(high, high + 0x2000)},
        {0, std::vector<uint8_t>(low, low + 0x8000)},
        // kdump-style duplicate of part of low RAM (kernel text segment).
        {0x2000, std::vector<uint8_t>(low + 0x2000, low + 0x3000)},
    };
  }

  TestRam ram_ = MakeRam();
  X86_64PageTables tables_{ram_, X86PagingMode::kFourLevel, 0x1000, 0x5000};
  std::vector<uint8_t> notes_;
};

TEST_F(ElfCoreTest, SegmentsBecomeGuestMemoryByPhysicalAddress) {
  absl::StatusOr<ElfCore> core =
      ElfCore::Open(WriteFile("two_loads.core", BuildCore(notes_, Loads())));
  ASSERT_TRUE(core.ok()) << core.status();
  EXPECT_EQ(core->machine(), EM_X86_64);
  EXPECT_EQ(core->duplicate_segments(), 1u);
  const GuestMemory& m = core->memory();
  ASSERT_EQ(m.regions().size(), 2u);
  EXPECT_EQ(m.total_bytes(), 0xa000u);
  EXPECT_EQ(*m.ReadU8(0x101003), 3 ^ 0x5a);
  EXPECT_EQ(*m.ReadU64(tables_.root()),
            *TestRam(ram_).View()->ReadU64(tables_.root()));
  EXPECT_EQ(m.ReadU8(0x8000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(m.ReadU8(0x102000).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ElfCoreTest, NotesGivePerCpuStateAndVmcoreinfo) {
  absl::StatusOr<ElfCore> core =
      ElfCore::Open(WriteFile("notes.core", BuildCore(notes_, Loads())));
  ASSERT_TRUE(core.ok()) << core.status();
  ASSERT_EQ(core->cpus().size(), 2u);
  const ElfCoreCpu& cpu1 = core->cpus()[1];
  ASSERT_TRUE(cpu1.prstatus.has_value());
  EXPECT_EQ(cpu1.prstatus->pid, 7u);
  ASSERT_TRUE(cpu1.prstatus->x86.has_value());
  EXPECT_EQ(cpu1.prstatus->x86->rip, kVa + 0x20);
  EXPECT_EQ(cpu1.prstatus->x86->rsp, 0x2u);
  EXPECT_EQ(cpu1.prstatus->x86->rax, 0xaaaau);
  EXPECT_EQ(cpu1.prstatus->gs_base, 0xffff888007c00000u);
  ASSERT_TRUE(cpu1.qemu.has_value());
  EXPECT_EQ(cpu1.qemu->version, 1u);
  EXPECT_EQ(cpu1.qemu->regs.rax, 0xbbbbu);
  EXPECT_EQ(cpu1.qemu->regs.rip, kVa + 0x20);
  EXPECT_EQ(cpu1.qemu->cs.selector, 0x10u);
  EXPECT_EQ(cpu1.qemu->gs.base, 0x1234000u);
  EXPECT_EQ(cpu1.qemu->cr0, 0x80050033u);
  EXPECT_EQ(cpu1.qemu->cr4, 1u << 12);
  EXPECT_EQ(cpu1.qemu->kernel_gs_base, 0xffff888007d00000u);
  EXPECT_EQ(cpu1.qemu->Translator().mode(), X86PagingMode::kFiveLevel);
  ASSERT_TRUE(core->vmcoreinfo().has_value());
  EXPECT_EQ(*core->vmcoreinfo(), kVmcoreinfo);
}

TEST_F(ElfCoreTest, CpuZeroCr3TranslatesThroughTheCore) {
  absl::StatusOr<ElfCore> core =
      ElfCore::Open(WriteFile("walk.core", BuildCore(notes_, Loads())));
  ASSERT_TRUE(core.ok()) << core.status();
  const QemuCpuState& cpu0 = *core->cpus()[0].qemu;
  const X86_64Translator translator = cpu0.Translator();
  EXPECT_EQ(translator.root(), tables_.root());  // PCID bits stripped.
  TranslatedMemory vm(core->memory(), translator);
  uint8_t bytes[16];
  ASSERT_TRUE(vm.ReadVirtual(cpu0.regs.rip, absl::MakeSpan(bytes)).ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(bytes[i], (0x10 + i) ^ 0x5a);
}

TEST_F(ElfCoreTest, MalformedCoresAreClearErrors) {
  const std::vector<uint8_t> good = BuildCore(notes_, Loads());
  // Truncated in the middle of the last PT_LOAD.
  std::vector<uint8_t> cut(good.begin(), good.end() - 100);
  absl::StatusOr<ElfCore> core = ElfCore::Open(WriteFile("cut.core", cut));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(core.status().message(), HasSubstr("truncated"));
  // Not a core.
  core = ElfCore::Open(
      WriteFile("exec.core", BuildCore(notes_, Loads(), ET_EXEC)));
  EXPECT_THAT(core.status().message(), HasSubstr("not a core"));
  core = ElfCore::Open(WriteFile("text.core", {'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kInvalidArgument);
  core = ElfCore::Open(TempPath("does-not-exist.core"));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kNotFound);
  // A note whose size runs past its segment.
  std::vector<uint8_t> bad_notes = notes_;
  Put32(bad_notes, 4, 0x7fffffff);  // First note's n_descsz.
  core =
      ElfCore::Open(WriteFile("bad_note.core", BuildCore(bad_notes, Loads())));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core.status().message(), HasSubstr("malformed note"));
  // A PRSTATUS too short for x86_64.
  const std::vector<uint8_t> short_notes =
      EncodeNotes({{"CORE", NT_PRSTATUS, std::vector<uint8_t>(64, 0)}});
  core = ElfCore::Open(
      WriteFile("short_prstatus.core", BuildCore(short_notes, Loads())));
  EXPECT_THAT(core.status().message(), HasSubstr("NT_PRSTATUS of 64 bytes"));
  // No memory at all.
  core = ElfCore::Open(WriteFile("empty.core", BuildCore(notes_, {})));
  EXPECT_THAT(core.status().message(), HasSubstr("no PT_LOAD"));
}

TEST(ElfCoreArm64Test, PrStatusGivesArm64Registers) {
  // arm64 struct elf_prstatus: user_pt_regs at 112, 392 bytes in all.
  std::vector<uint8_t> desc(392, 0);
  Put32(desc, 32, 42);
  for (int i = 0; i < 34; ++i) Put64(desc, 112 + 8 * i, 0x1000 + i);
  const std::vector<uint8_t> notes =
      EncodeNotes({{"CORE", NT_PRSTATUS, desc},
                   {"CORE", NT_PRSTATUS, std::vector<uint8_t>(200, 0)}});
  const std::vector<CoreSegment> ram = {
      {0x40000000, std::vector<uint8_t>(4096, 0x11)}};
  absl::StatusOr<ElfCore> core = ElfCore::Open(WriteFile(
      "arm64.core", WriteElfCore(EncodeNotes({{"CORE", NT_PRSTATUS, desc}}),
                                 ram, ET_CORE, EM_AARCH64)));
  ASSERT_TRUE(core.ok()) << core.status();
  EXPECT_EQ(core->machine(), EM_AARCH64);
  ASSERT_EQ(core->cpus().size(), 1u);
  const PrStatus& st = *core->cpus()[0].prstatus;
  EXPECT_EQ(st.pid, 42u);
  EXPECT_FALSE(st.x86.has_value());
  ASSERT_TRUE(st.arm64.has_value());
  EXPECT_EQ(st.arm64->x[0], 0x1000u);
  EXPECT_EQ(st.arm64->x[30], 0x1000u + 30);
  EXPECT_EQ(st.arm64->sp, 0x1000u + 31);
  EXPECT_EQ(st.arm64->pc, 0x1000u + 32);
  EXPECT_EQ(st.arm64->pstate, 0x1000u + 33);
  EXPECT_EQ(*core->memory().ReadU8(0x40000000), 0x11);
  // A register block too short for arm64 is an error, not a short read.
  core = ElfCore::Open(WriteFile(
      "arm64_short.core", WriteElfCore(notes, ram, ET_CORE, EM_AARCH64)));
  EXPECT_THAT(core.status().message(), HasSubstr("arm64 NT_PRSTATUS"));
}

}  // namespace
}  // namespace ktvm::memory

// Freeze/registers/memory/resume/stop on a real kernel under QEMU TCG.
#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/guest_ram_scan.h"
#include "tests/e2e/qemu_guest.h"

namespace ktvm::e2e {
namespace {

using guest::ControlEventKind;

// Start of the kernel half of the address space: 4-level paging, and 5-level
// (CR4.LA57, which QEMU's "-cpu max" offers and Linux then uses).
constexpr uint64_t kKernelHalfStart = 0xffff800000000000ULL;
constexpr uint64_t kKernelHalfStartLa57 = 0xff00000000000000ULL;
constexpr uint64_t kCr4La57 = 1u << 12;

TEST(FreezeTest, FreezeReadRegistersAndMemoryThenResume) {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=ok"};
  // Ticks on the console so the test can see whether the guest runs.
  spec.run =
      "i=0; while [ $i -lt 60 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  backend::QemuTcgBackend& b = **guest;
  ASSERT_TRUE(b.Start({}).ok());
  ASSERT_TRUE(
      WaitForEvent(b, ControlEventKind::kWorkloadStarted, absl::Seconds(40)))
      << b.ConsoleTail(4000);
  absl::SleepFor(absl::Milliseconds(500));

  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(b.Freeze().ok());
  const absl::Duration freeze_latency = absl::Now() - t0;
  const absl::Time r0 = absl::Now();
  auto regs = b.ReadRegisters();
  const absl::Duration regs_time = absl::Now() - r0;
  ASSERT_TRUE(regs.ok()) << regs.status();
  std::printf("QMP stop took %s, registers of %d vCPUs took %s\n",
              absl::FormatDuration(freeze_latency).c_str(), b.num_vcpus(),
              absl::FormatDuration(regs_time).c_str());
  ASSERT_EQ(regs->size(), static_cast<size_t>(b.num_vcpus()));
  std::set<uint32_t> apic_ids;
  for (const auto& v : *regs) {
    ASSERT_TRUE(v.parked()) << v.note();
    ASSERT_TRUE(v.has_x86_64());
    const auto& r = v.x86_64();
    std::printf(
        "vCPU %u: rip=%#lx rsp=%#lx cr3=%#lx gs_base=%#lx kernel_gs_base=%#lx "
        "apic_id=%u (%s)\n",
        v.index(), r.rip(), r.rsp(), r.cr3(), r.gs_base(), r.kernel_gs_base(),
        r.apic_id(), v.note().c_str());
    // The gdbstub supplied KERNEL_GS_BASE: in the kernel, one of GS_BASE and
    // KERNEL_GS_BASE holds this CPU's per-CPU base (a kernel address).
    EXPECT_EQ(v.note().find("gdbstub:"), std::string::npos) << v.note();
    const uint64_t kernel_half =
        (r.cr4() & kCr4La57) ? kKernelHalfStartLa57 : kKernelHalfStart;
    EXPECT_TRUE(r.gs_base() >= kernel_half || r.kernel_gs_base() >= kernel_half)
        << std::hex << r.gs_base() << " " << r.kernel_gs_base();
    // Mostly the halt loop, but a user task (init, the workload) can hold
    // the vCPU at the freeze: the privilege level must match the half of
    // the address space rip is in, whichever it is.
    const uint32_t cpl = r.cs().selector() & 3;
    EXPECT_TRUE(cpl == 0 || cpl == 3) << cpl;
    if (cpl == 0) {
      EXPECT_GE(r.rip(), kernel_half) << std::hex << r.rip();
    } else {
      // Canonical lower half: below 2^47, or 2^56 with 5-level paging.
      const uint64_t user_half_end =
          (r.cr4() & kCr4La57) ? (1ULL << 56) : (1ULL << 47);
      EXPECT_LT(r.rip(), user_half_end) << std::hex << r.rip();
    }
    EXPECT_NE(r.cr3(), 0u);
    EXPECT_NE(r.cr0() & 0x80000000u, 0u);  // paging
    EXPECT_NE(r.efer() & 0x400u, 0u);      // long mode active
    apic_ids.insert(r.apic_id());
  }
  EXPECT_EQ(apic_ids.size(), regs->size());

  // Frozen means frozen: no console ticks arrive for a second.
  const size_t console_before = b.ConsoleTail(1 << 20).size();
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(b.ConsoleTail(1 << 20).size(), console_before);
  auto again = b.ReadRegisters();
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < regs->size(); ++i) {
    EXPECT_EQ((*again)[i].x86_64().rip(), (*regs)[i].x86_64().rip());
    EXPECT_EQ((*again)[i].x86_64().rsp(), (*regs)[i].x86_64().rsp());
  }

  // Guest memory through the mapped RAM file: VMCOREINFO's OSRELEASE.
  const absl::Time s0 = absl::Now();
  const std::vector<std::string> releases = FindOsReleases(b.ram());
  std::printf("scanning %lu MiB of guest RAM for OSRELEASE= took %s\n",
              static_cast<unsigned long>(b.ram().size() >> 20),
              absl::FormatDuration(absl::Now() - s0).c_str());
  bool found = false;
  for (const std::string& r : releases) found |= r == KernelVersion();
  std::string hits;
  for (const std::string& r : releases) hits += " [" + r + "]";
  EXPECT_TRUE(found) << "no OSRELEASE=" << KernelVersion() << " among "
                     << releases.size() << " hits:" << hits;

  // The scheduler's task contexts are in RAM too; the workload shell has one.
  const auto events = ParseEvents(b.ControlLines());
  const auto* started = FindEvent(events, ControlEventKind::kWorkloadStarted);
  ASSERT_NE(started, nullptr);
  const int64_t shell_pid = started->GetInt("pid").value_or(-1);
  bool shell_ctx = false;
  std::string pids;
  for (const TaskCtxEntry& e : FindTaskContexts(b.ram())) {
    shell_ctx |= e.pid == shell_pid;
    pids += " " + std::to_string(e.pid) + "/" + std::to_string(e.idx);
  }
  EXPECT_TRUE(shell_ctx) << "no ktvm_task_ctx with pid " << shell_pid
                         << "; pid/idx found:" << pids;

  ASSERT_TRUE(b.Resume().ok());
  EXPECT_FALSE(b.ReadRegisters().ok());  // not frozen any more
  absl::SleepFor(absl::Seconds(1));
  EXPECT_GT(b.ConsoleTail(1 << 20).size(), console_before)
      << "no console output after Resume()";

  ASSERT_TRUE(b.Stop().ok());
  auto exit = b.WaitForExit(absl::Seconds(5));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kStopped) << exit->detail;
  EXPECT_FALSE(b.Freeze().ok());
}

TEST(FreezeTest, ChurnModeReusesSlotsWithNewGenerations) {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=churn"};
  // Real processes (busybox runs "true" without forking): the loader's
  // spin helper, 30 short ones, then one that lives through the freeze
  // ("&": a forked child; sh would exec a last plain command in place).
  spec.run =
      "for i in $(seq 30); do /ktvm/scheduler --spin_ms=1; done; "
      "echo churn-loop-done; "
      "/ktvm/scheduler --spin_ms=4000 --comm=ktvm_last & wait";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  backend::QemuTcgBackend& b = **guest;
  ASSERT_TRUE(b.Start({}).ok());
  ASSERT_TRUE(
      WaitForEvent(b, ControlEventKind::kWorkloadStarted, absl::Seconds(40)))
      << b.ConsoleTail(4000);
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  while (b.ConsoleTail(1 << 20).find("churn-loop-done") == std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Let the kernel release the last short tasks (that is when they free).
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(b.Freeze().ok());
  const std::vector<TaskCtxEntry> entries = FindTaskContexts(b.ram());
  ASSERT_GE(entries.size(), 10u);  // kthreads and init have contexts too
  std::set<int32_t> idxs, pids;
  for (const TaskCtxEntry& e : entries) {
    // Churn mode allocates, frees and reallocates each context.
    EXPECT_GE(e.genn, 1) << "idx " << e.idx << " pid " << e.pid << " gpa "
                         << std::hex << e.gpa;
    idxs.insert(e.idx);
    pids.insert(e.pid);
  }
  EXPECT_EQ(idxs.size(), entries.size()) << "two live contexts share an idx";
  EXPECT_EQ(pids.size(), entries.size()) << "two live contexts share a pid";
  // Every free adds exactly one to genn: a live context in churn mode has
  // been freed once per earlier owner (exit) plus once per allocation
  // (churn), so its genn is odd; slots given back by the 30 short tasks were
  // taken again (first clear bit), so some genn is well above 1. (Frees
  // happen when the kernel releases a task, a little after it exits, so
  // the short tasks share a few slots rather than one.)
  int32_t max_genn = 0;
  for (const TaskCtxEntry& e : entries) {
    max_genn = std::max(max_genn, e.genn);
    EXPECT_EQ(e.genn % 2, 1) << "idx " << e.idx << " genn " << e.genn;
  }
  std::string all;
  for (const TaskCtxEntry& e : entries) {
    all += " " + std::to_string(e.idx) + ":" + std::to_string(e.genn) + ":" +
           std::to_string(e.pid);
  }
  // 30 short tasks through a few slots (a task frees its slot when the
  // kernel releases it, a little after exit, so consecutive tasks may
  // alternate between two or three): 1 + 2 * 30 with one slot, seen as low
  // as 33 under load; 11 means a slot was reused at least five times.
  EXPECT_GE(max_genn, 11) << "idx:genn:pid" << all;

  std::printf(
      "churn: %zu live task contexts, all with genn >= 1, max genn %d\n",
      entries.size(), max_genn);
  ASSERT_TRUE(b.Resume().ok());
  auto exit = b.WaitForExit(absl::Seconds(40));
  ASSERT_TRUE(exit.ok()) << exit.status() << "\nconsole:\n"
                         << b.ConsoleTail(1 << 16);
  const auto events = ParseEvents(b.ControlLines());
  const auto* work = FindEvent(events, ControlEventKind::kWorkloadExit);
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->GetInt("status").value_or(-1), 0);
}

}  // namespace
}  // namespace ktvm::e2e

namespace ktvm::e2e {
namespace {

struct E820Range {
  uint64_t start;
  uint64_t end;  // inclusive, as the kernel prints it
};

// The console's e820 lines, for failure messages.
std::string E820Lines(const std::string& console) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(console, '\n')) {
    if (absl::StrContains(line, "e820")) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff]  System RAM"
std::vector<E820Range> UsableE820(const std::string& console) {
  std::vector<E820Range> out;
  size_t pos = 0;
  while ((pos = console.find("BIOS-e820: [mem 0x", pos)) != std::string::npos) {
    // A line ends at '\n' or where the next entry starts: under load the
    // console has been seen to merge lines, which hid the entries behind
    // the first one of a merged line.
    const size_t eol = std::min(console.find('\n', pos),
                                console.find("BIOS-e820: [mem 0x", pos + 1));
    const std::string line = console.substr(pos, eol - pos);
    pos = eol;
    // Older kernels say "usable", 7.x says "System RAM".
    if (line.find("] usable") == std::string::npos &&
        line.find("System RAM") == std::string::npos) {
      continue;
    }
    unsigned long long a = 0, b = 0;
    if (std::sscanf(line.c_str(), "BIOS-e820: [mem 0x%llx-0x%llx]", &a, &b) ==
        2) {
      out.push_back({a, b});
    }
  }
  return out;
}

// 4 GiB of guest RAM (and a CPU without LA57): QEMU's pc machine splits it
// at 3 GiB and puts the
// rest above 4 GiB. The mapping must agree with what the guest's firmware
// reports, and the page tables CR3 points at must read back as such.
TEST(FreezeTest, RamAboveFourGigabytesIsMappedWhereTheGuestSeesIt) {
  GuestSpec spec;
  spec.with_scheduler = false;
  spec.memory_mib = 4096;
  spec.cpu_model = "max,la57=off";  // and 4-level paging this time
  spec.run = "sleep 3";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  backend::QemuTcgBackend& b = **guest;
  ASSERT_TRUE(b.Start({}).ok());
  ASSERT_TRUE(
      WaitForEvent(b, ControlEventKind::kWorkloadStarted, absl::Seconds(40)))
      << b.ConsoleTail(4000);
  ASSERT_TRUE(b.Freeze().ok());
  const auto& regions = b.ram().regions();
  ASSERT_EQ(regions.size(), 2u);
  const std::vector<E820Range> usable = UsableE820(b.ConsoleTail(1 << 20));
  ASSERT_FALSE(usable.empty()) << b.ConsoleTail(4000);
  uint64_t highest = 0;
  for (const E820Range& r : usable) {
    bool inside = false;
    for (const auto& reg : regions) {
      inside |= r.start >= reg.gpa && r.end < reg.gpa + reg.size;
    }
    EXPECT_TRUE(inside) << std::hex << "e820 usable " << r.start << "-" << r.end
                        << " outside the mapped RAM";
    highest = std::max(highest, r.end + 1);
  }
  EXPECT_EQ(highest, regions[1].gpa + regions[1].size)
      << E820Lines(b.ConsoleTail(1 << 20));

  // Every present entry of each vCPU's top-level page table points into RAM.
  auto regs = b.ReadRegisters();
  ASSERT_TRUE(regs.ok()) << regs.status();
  for (const auto& v : *regs) {
    EXPECT_EQ(v.x86_64().cr4() & kCr4La57, 0u);
    std::vector<uint8_t> table(4096);
    const uint64_t root = v.x86_64().cr3() & 0x000ffffffffff000ULL;
    ASSERT_TRUE(b.ram().Read(root, absl::MakeSpan(table)).ok());
    int present = 0;
    for (int i = 0; i < 512; ++i) {
      uint64_t e;
      std::memcpy(&e, table.data() + 8 * i, 8);
      if (!(e & 1)) continue;
      ++present;
      const uint64_t next = e & 0x000ffffffffff000ULL;
      uint8_t probe[8];
      EXPECT_TRUE(b.ram().Read(next, absl::MakeSpan(probe)).ok())
          << std::hex << "entry " << i << " -> " << next;
    }
    EXPECT_GT(present, 0) << "vCPU " << v.index() << " CR3 " << std::hex
                          << root;
  }
  ASSERT_TRUE(b.Stop().ok());
}

}  // namespace
}  // namespace ktvm::e2e

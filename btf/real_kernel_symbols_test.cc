// Boots the Debian kernel under QEMU TCG (KASLR on, guest RAM in a shared
// file), then, from the RAM file and the bzImage alone: finds VMCOREINFO,
// decodes kallsyms and compares a sample of 1000+ symbols with the guest's
// own /proc/kallsyms, and reads init_uts_ns.name.release through BTF
// offsets and compares it with `uname -r`.
#include <bpf/btf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/btf_source.h"
#include "btf/kallsyms.h"
#include "btf/kernel_image_reader.h"
#include "btf/mapped_file.h"
#include "btf/test_util.h"
#include "btf/type_lookup.h"
#include "btf/vmcoreinfo.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/kernel_memory.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_translator.h"

namespace ktvm::btf {
namespace {

constexpr int kBootTimeoutSeconds = 90;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

int Run(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A busybox initramfs whose /init prints uname -r and every 50th line of
// /proc/kallsyms between markers, then idles so the RAM stays live.
std::string MakeInitramfs() {
  const std::string root = TmpDir() + "/initramfs";
  const std::string out = TmpDir() + "/initramfs.cpio";
  Run("rm -rf " + root);
  Run("mkdir -p " + root + "/bin " + root + "/proc");
  Run("cp /bin/busybox " + root + "/bin/busybox");
  std::ofstream init(root + "/init");
  init << "#!/bin/busybox sh\n"
          "/bin/busybox --install -s /bin\n"
          "export PATH=/bin\n"
          "mount -t proc proc /proc\n"
          "echo 0 > /proc/sys/kernel/kptr_restrict\n"
          "echo KTVM-UNAME $(uname -r)\n"
          "echo KTVM-SYMS-BEGIN\n"
          "awk 'NR % 50 == 0 || $3 == \"entry_SYSCALL_64\" || "
          "$3 == \"init_uts_ns\" || $3 == \"_text\"' /proc/kallsyms\n"
          "echo KTVM-SYMS-END\n"
          "while true; do sleep 1000; done\n";
  init.close();
  Run("chmod +x " + root + "/init");
  EXPECT_EQ(Run("cd " + root + " && find . | cpio -o -H newc --quiet > " + out),
            0);
  return out;
}

TEST(RealKernelSymbolsTest, KallsymsAndUtsFromGuestRamMatchTheGuest) {
  if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0 ||
      access("/bin/busybox", X_OK) != 0) {
    GTEST_SKIP() << "NOT RUN: qemu-system-x86_64 or busybox missing";
  }
  const std::string bzimage = testing::RunfilePath("external/kernel/bzImage");
  const std::string initrd = MakeInitramfs();
  const std::string ram_file = TmpDir() + "/guest-ram";
  const std::string serial = TmpDir() + "/serial.log";
  unlink(serial.c_str());

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t qemu = fork();
  if (qemu == 0) {
    const int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    const std::string backend =
        "memory-backend-file,id=ram0,size=512M,mem-path=" + ram_file +
        ",share=on";
    const std::string serial_arg = "file:" + serial;
    execl("/usr/bin/qemu-system-x86_64", "qemu-system-x86_64", "-accel",
          "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "512M",
          "-object", backend.c_str(), "-machine", "pc,memory-backend=ram0",
          "-kernel", bzimage.c_str(), "-initrd", initrd.c_str(), "-append",
          "console=ttyS0 panic=-1 quiet loglevel=1", "-serial",
          serial_arg.c_str(), "-display", "none", "-monitor", "none",
          "-no-reboot", nullptr);
    _exit(127);
  }
  ASSERT_GT(qemu, 0);
  std::string console;
  bool done = false;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    console = ReadText(serial);
    done = console.find("KTVM-SYMS-END") != std::string::npos;
    int st;
    if (waitpid(qemu, &st, WNOHANG) == qemu) break;
    if (std::chrono::steady_clock::now() - t0 >
        std::chrono::seconds(kBootTimeoutSeconds)) {
      break;
    }
  }
  const double boot_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("guest printed its symbols after %.1f s\n", boot_s);
  if (!done) {
    kill(qemu, SIGKILL);
    waitpid(qemu, nullptr, 0);
    FAIL() << "guest did not finish; console tail:\n"
           << console.substr(console.size() > 2000 ? console.size() - 2000 : 0);
  }

  // Everything below uses only the RAM file and the bzImage.
  const auto a0 = std::chrono::steady_clock::now();
  absl::StatusOr<MappedFile> ram_map = MappedFile::Open(ram_file);
  ASSERT_TRUE(ram_map.ok()) << ram_map.status();
  const absl::Span<const uint8_t> ram = ram_map->bytes();
  absl::StatusOr<Vmcoreinfo> info = FindVmcoreinfo(ram, 0);
  ASSERT_TRUE(info.ok()) << info.status();
  const auto a1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(info->phys_base.has_value()) << "no NUMBER(phys_base)";
  std::printf(
      "VMCOREINFO at pa 0x%lx: OSRELEASE=%s KERNELOFFSET=0x%lx "
      "phys_base=0x%lx l5=%d\n",
      info->found_at_gpa, info->osrelease.c_str(), info->kernel_offset,
      *info->phys_base,
      info->pgtable_l5_enabled.has_value() ? *info->pgtable_l5_enabled : -1);
  absl::StatusOr<KallsymsTables> tables = KallsymsTablesFromVmcoreinfo(*info);
  ASSERT_TRUE(tables.ok()) << tables.status();
  const ReadVirtualFn read = KernelImageReader(ram, *info->phys_base);
  absl::StatusOr<SymbolTable> syms = DecodeKallsyms(read, *tables);
  ASSERT_TRUE(syms.ok()) << syms.status();
  const auto a2 = std::chrono::steady_clock::now();
  std::printf(
      "VMCOREINFO scan %.1f ms, kallsyms decode %.1f ms (%zu symbols)\n",
      std::chrono::duration<double, std::milli>(a1 - a0).count(),
      std::chrono::duration<double, std::milli>(a2 - a1).count(), syms->size());

  // Compare with what the guest printed.
  std::multimap<std::string, uint64_t> decoded;
  for (size_t i = 0; i < syms->size(); ++i) {
    decoded.emplace(std::string(syms->at(i).name), syms->at(i).address);
  }
  std::string uname;
  size_t compared = 0, matched = 0;
  std::istringstream lines(console);
  std::string line;
  bool in_syms = false;
  std::vector<std::string> mismatches;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("KTVM-UNAME ", 0) == 0) uname = line.substr(11);
    if (line == "KTVM-SYMS-BEGIN") {
      in_syms = true;
      continue;
    }
    if (line == "KTVM-SYMS-END") in_syms = false;
    if (!in_syms) continue;
    char type = 0;
    char name[512];
    unsigned long long addr = 0;
    if (std::sscanf(line.c_str(), "%llx %c %511s", &addr, &type, name) != 3) {
      continue;
    }
    // Module, BPF and ftrace-trampoline symbols are not in the core table.
    if (line.find('[') != std::string::npos) continue;
    ++compared;
    bool ok = false;
    auto [lo, hi] = decoded.equal_range(name);
    for (auto it = lo; it != hi; ++it) ok |= it->second == addr;
    if (ok) {
      ++matched;
    } else if (mismatches.size() < 20) {
      mismatches.push_back(line);
    }
  }
  std::printf("compared %zu /proc/kallsyms lines, %zu matched\n", compared,
              matched);
  for (const std::string& m : mismatches)
    std::printf("  mismatch: %s\n", m.c_str());
  EXPECT_GE(compared, 1000u);
  EXPECT_EQ(matched, compared);

  // The page-table root VMCOREINFO names is a kernel-image page whose last
  // top-level entry (the kernel half) is present.
  ASSERT_TRUE(info->KernelPageTableRoot().has_value());
  uint64_t top_entry = 0;
  ASSERT_TRUE(read(*info->KernelPageTableRoot() + 511 * 8,
                   absl::MakeSpan(reinterpret_cast<uint8_t*>(&top_entry), 8))
                  .ok());
  std::printf("kernel page-table root 0x%lx, entry 511 = 0x%lx\n",
              *info->KernelPageTableRoot(), top_entry);
  EXPECT_EQ(top_entry & 1, 1u);

  // KASLR: _text sits at the default link address plus KERNELOFFSET.
  ASSERT_TRUE(syms->Lookup("_text").has_value());
  EXPECT_EQ(*syms->Lookup("_text"),
            0xffffffff81000000ull + info->kernel_offset);
  EXPECT_EQ(*syms->Lookup("init_uts_ns"), *info->Symbol("init_uts_ns"));
  if (info->kernel_offset == 0) {
    std::printf("NOTE: KERNELOFFSET is 0 (KASLR chose no slide this boot)\n");
  }

  // init_uts_ns.name.release through BTF from the bzImage.
  BzImageBtfOptions opts;
  opts.cache_dir = TmpDir() + "/btf-cache";
  absl::StatusOr<VmlinuxBtf> btf = VmlinuxBtfFromBzImage(bzimage, opts);
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<uint32_t> uts =
      RequireFullStruct(btf->btf.get(), "uts_namespace");
  ASSERT_TRUE(uts.ok()) << uts.status();
  absl::StatusOr<MemberLocation> rel =
      MemberOffset(btf->btf.get(), *uts, "name.release");
  ASSERT_TRUE(rel.ok()) << rel.status();
  std::vector<uint8_t> buf(65);
  ASSERT_TRUE(
      read(*info->Symbol("init_uts_ns") + rel->byte_offset, absl::MakeSpan(buf))
          .ok());
  const std::string release(reinterpret_cast<char*>(buf.data()));
  std::printf("init_uts_ns.name.release = %s, guest uname -r = %s\n",
              release.c_str(), uname.c_str());
  EXPECT_EQ(release, uname);
  EXPECT_EQ(release, info->osrelease);

  // The kernel's own .BTF, found through kallsyms, equals the bzImage's.
  const std::optional<uint64_t> start_btf = syms->Lookup("__start_BTF");
  const std::optional<uint64_t> stop_btf = syms->Lookup("__stop_BTF");
  ASSERT_TRUE(start_btf.has_value() && stop_btf.has_value())
      << "__start_BTF/__stop_BTF not in kallsyms";
  absl::StatusOr<BtfPtr> guest_btf =
      BtfFromGuestMemory(read, *start_btf, *stop_btf);
  ASSERT_TRUE(guest_btf.ok()) << guest_btf.status();
  uint32_t guest_size = 0, file_size = 0;
  const void* guest_raw = btf__raw_data(guest_btf->get(), &guest_size);
  const void* file_raw = btf__raw_data(btf->btf.get(), &file_size);
  std::printf("guest .BTF at 0x%lx: %u bytes, %u types\n", *start_btf,
              guest_size, btf__type_cnt(guest_btf->get()));
  ASSERT_EQ(guest_size, file_size);
  EXPECT_EQ(std::memcmp(guest_raw, file_raw, file_size), 0);

  // The same through the kernel's own page tables: memory:: walks from the
  // VMCOREINFO root (paging mode from pgtable_l5_enabled, not a guess) and
  // must agree with the kernel-image arithmetic for every sampled symbol.
  absl::StatusOr<memory::GuestMemory> guest =
      memory::GuestMemory::FromRegions({{0, ram.size(), ram.data()}});
  ASSERT_TRUE(guest.ok()) << guest.status();
  const uint64_t root_pa =
      *info->KernelPageTableRoot() - 0xffffffff80000000ull + *info->phys_base;
  const memory::X86_64Translator translator(
      root_pa, info->pgtable_l5_enabled.value_or(false)
                   ? memory::X86PagingMode::kFiveLevel
                   : memory::X86PagingMode::kFourLevel);
  size_t walked = 0;
  for (size_t i = 0; i < syms->size(); i += 97) {
    const uint64_t va = syms->at(i).address;
    if (va < 0xffffffff80000000ull) continue;  // Per-CPU offsets, absolutes.
    absl::StatusOr<memory::Translation> t = translator.Translate(*guest, va);
    // Init sections are freed and unmapped after boot.
    if (absl::IsNotFound(t.status())) continue;
    ASSERT_TRUE(t.ok()) << syms->at(i).name << ": " << t.status();
    EXPECT_EQ(t->phys_addr, va - 0xffffffff80000000ull + *info->phys_base)
        << syms->at(i).name;
    ++walked;
  }
  std::printf("%s: %zu kernel symbols walked, all at phys_base arithmetic\n",
              translator.Describe().c_str(), walked);
  EXPECT_GE(walked, 500u);
  // The direct map: page_offset_base (KASLR-randomised, read from the
  // kernel variable) plus a physical address, by arithmetic, must be what
  // the kernel's own tables map there.
  ASSERT_TRUE(syms->Lookup("page_offset_base").has_value());
  uint64_t page_offset_base = 0;
  ASSERT_TRUE(
      read(*syms->Lookup("page_offset_base"),
           absl::MakeSpan(reinterpret_cast<uint8_t*>(&page_offset_base), 8))
          .ok());
  const memory::KernelMemory kernel(
      *guest, translator,
      {.page_offset_base = page_offset_base, .phys_base = *info->phys_base});
  size_t direct_checked = 0;
  for (uint64_t pa = 0x100000; pa < ram.size(); pa += 0x1f00000) {
    absl::StatusOr<memory::KernelTranslation> k =
        kernel.Translate(page_offset_base + pa);
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k->kind, memory::KernelAddressKind::kDirectMap);
    absl::StatusOr<memory::Translation> w =
        translator.Translate(*guest, page_offset_base + pa);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->phys_addr, k->phys_addr);
    ++direct_checked;
  }
  std::printf("page_offset_base 0x%lx: %zu direct-map addresses walked\n",
              page_offset_base, direct_checked);
  const memory::TranslatedMemory paged(*guest, translator);
  absl::StatusOr<BtfPtr> paged_btf =
      BtfFromGuestMemory(paged, *start_btf, *stop_btf);
  ASSERT_TRUE(paged_btf.ok()) << paged_btf.status();
  uint32_t paged_size = 0;
  const void* paged_raw = btf__raw_data(paged_btf->get(), &paged_size);
  ASSERT_EQ(paged_size, file_size);
  EXPECT_EQ(std::memcmp(paged_raw, file_raw, file_size), 0);

  kill(qemu, SIGKILL);
  waitpid(qemu, nullptr, 0);
  unlink(ram_file.c_str());
}

}  // namespace
}  // namespace ktvm::btf

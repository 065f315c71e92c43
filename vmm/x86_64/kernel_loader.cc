#include "vmm/x86_64/kernel_loader.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/x86_64/acpi.h"
#include "vmm/x86_64/boot_params.h"
#include "vmm/x86_64/e820.h"
#include "vmm/x86_64/gdt.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/mptable.h"
#include "vmm/x86_64/page_tables.h"
#include "vmm/x86_64/pvh.h"
#include "vmm/x86_64/setup_header.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm::x86_64 {
namespace {

absl::Span<const uint8_t> AsBytes(const void* p, size_t n) {
  return absl::MakeConstSpan(static_cast<const uint8_t*>(p), n);
}

absl::Status Annotate(absl::Status s, std::string_view what) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrFormat("%s: %s", what, s.message()));
}

struct RamLayout {
  uint64_t below_hole = 0;
  uint64_t above_4g = 0;
};

RamLayout LayoutOf(const GuestRam& ram) {
  RamLayout l;
  for (const RamRegion& r : ram.regions()) {
    if (r.gpa == 0) l.below_hole = r.size;
    if (r.gpa >= kMmioHoleEnd) l.above_4g += r.size;
  }
  return l;
}

// Tables and structures every boot path shares.
absl::StatusOr<uint64_t> WriteFirmwareTables(const GuestRam& ram,
                                             int num_cpus) {
  const auto gdt = BootGdt64();
  if (absl::Status s = ram.Write(kGdtAddr, AsBytes(gdt.data(), sizeof(gdt)));
      !s.ok()) {
    return Annotate(s, "GDT");
  }
  const std::vector<uint8_t> tables = BuildIdentityPageTables();
  if (absl::Status s = ram.Write(kPml4Addr, tables); !s.ok()) {
    return Annotate(s, "page tables");
  }
  absl::StatusOr<AcpiTables> acpi = BuildAcpiTables(num_cpus, kAcpiRsdpAddr);
  if (!acpi.ok()) return acpi.status();
  if (absl::Status s = ram.Write(kAcpiRsdpAddr, acpi->bytes); !s.ok()) {
    return Annotate(s, "ACPI tables");
  }
  // The MP table has 8-bit APIC ids; an x2APIC topology is ACPI-only.
  if (!NeedsX2apic(num_cpus)) {
    absl::StatusOr<std::vector<uint8_t>> mp =
        BuildMpTable(num_cpus, kMptableAddr);
    if (!mp.ok()) return mp.status();
    if (absl::Status s = ram.Write(kMptableAddr, *mp); !s.ok()) {
      return Annotate(s, "MP table");
    }
  }
  return acpi->rsdp_addr;
}

absl::Status WriteCmdline(const GuestRam& ram, const std::string& cmdline) {
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  return Annotate(ram.Write(kCmdlineAddr, bytes), "command line");
}

absl::StatusOr<KernelBoot> LoadBzImage(const GuestRam& ram,
                                       absl::Span<const uint8_t> kernel,
                                       absl::Span<const uint8_t> initrd,
                                       std::string_view extra_cmdline,
                                       uint64_t rsdp, const RamLayout& layout) {
  absl::StatusOr<BzImage> image = ParseBzImage(kernel);
  if (!image.ok()) return image.status();
  absl::StatusOr<std::string> cmdline =
      BuildKernelCmdline(extra_cmdline, image->cmdline_size);
  if (!cmdline.ok()) return cmdline.status();
  absl::StatusOr<LoadPlan> plan =
      PlanBzImageLoad(*image, layout.below_hole, initrd.size());
  if (!plan.ok()) return plan.status();
  if (absl::Status s =
          ram.Write(plan->kernel_addr,
                    kernel.subspan(image->kernel_offset, image->kernel_size));
      !s.ok()) {
    return Annotate(s, "kernel");
  }
  if (!initrd.empty()) {
    if (absl::Status s = ram.Write(plan->initrd_addr, initrd); !s.ok()) {
      return Annotate(s, "initramfs");
    }
  }
  if (absl::Status s = WriteCmdline(ram, *cmdline); !s.ok()) return s;
  BootParamsInput in{};
  in.image = &*image;
  in.image_bytes = kernel;
  in.plan = *plan;
  in.cmdline_addr = kCmdlineAddr;
  in.cmdline_size = cmdline->size();
  in.acpi_rsdp_addr = rsdp;
  in.e820 = BuildE820Map(layout.below_hole, layout.above_4g);
  absl::StatusOr<boot_params> params = BuildBootParams(in);
  if (!params.ok()) return params.status();
  if (absl::Status s =
          ram.Write(kZeroPageAddr, AsBytes(&*params, sizeof(boot_params)));
      !s.ok()) {
    return Annotate(s, "boot_params");
  }
  KernelBoot boot{};
  boot.entry_kind = BootEntry::kBzImage64;
  boot.entry = plan->entry64;
  boot.boot_info = kZeroPageAddr;
  boot.kernel_addr = plan->kernel_addr;
  boot.kernel_end = plan->kernel_end;
  boot.initrd_addr = plan->initrd_addr;
  boot.initrd_size = plan->initrd_size;
  boot.cmdline = *cmdline;
  boot.protocol = image->protocol;
  return boot;
}

absl::StatusOr<KernelBoot> LoadPvhElf(const GuestRam& ram,
                                      absl::Span<const uint8_t> kernel,
                                      absl::Span<const uint8_t> initrd,
                                      std::string_view extra_cmdline,
                                      uint64_t rsdp, const RamLayout& layout) {
  absl::StatusOr<PvhKernel> elf = ParsePvhElf(kernel);
  if (!elf.ok()) return elf.status();
  absl::StatusOr<std::string> cmdline =
      BuildKernelCmdline(extra_cmdline, kCmdlineMaxBytes - 1);
  if (!cmdline.ok()) return cmdline.status();
  uint64_t lowest = ~uint64_t{0};
  for (const ElfSegment& seg : elf->segments) {
    lowest = std::min(lowest, seg.paddr);
    if (seg.paddr < kHighMemoryStart) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ELF segment at 0x%x lies below 1 MiB, where ktvm keeps its "
          "tables",
          seg.paddr));
    }
    if (seg.paddr + seg.mem_size > layout.below_hole) {
      return absl::OutOfRangeError(absl::StrFormat(
          "ELF kernel needs RAM up to 0x%x but guest RAM below the hole ends "
          "at 0x%x; raise --memory",
          seg.paddr + seg.mem_size, layout.below_hole));
    }
    absl::StatusOr<absl::Span<uint8_t>> dst =
        ram.Slice(seg.paddr, seg.mem_size);
    if (!dst.ok()) return Annotate(dst.status(), "ELF segment");
    std::memcpy(dst->data(), kernel.data() + seg.file_offset, seg.file_size);
    std::memset(dst->data() + seg.file_size, 0, seg.mem_size - seg.file_size);
  }
  KernelBoot boot{};
  boot.entry_kind = BootEntry::kPvh32;
  boot.entry = elf->entry32;
  boot.boot_info = kPvhStartInfoAddr;
  boot.kernel_addr = lowest;
  boot.kernel_end = (elf->end + kPageSize - 1) & ~(kPageSize - 1);
  boot.cmdline = *cmdline;
  if (!initrd.empty()) {
    const uint64_t end = layout.below_hole;
    if (initrd.size() > end ||
        ((end - initrd.size()) & ~(kPageSize - 1)) < boot.kernel_end) {
      return absl::OutOfRangeError(absl::StrFormat(
          "initramfs of %d bytes does not fit between the kernel's end 0x%x "
          "and the end of RAM 0x%x; raise --memory",
          initrd.size(), boot.kernel_end, end));
    }
    boot.initrd_addr = (end - initrd.size()) & ~(kPageSize - 1);
    boot.initrd_size = initrd.size();
    if (absl::Status s = ram.Write(boot.initrd_addr, initrd); !s.ok()) {
      return Annotate(s, "initramfs");
    }
  }
  if (absl::Status s = WriteCmdline(ram, *cmdline); !s.ok()) return s;
  PvhStartInfoInput in{};
  in.cmdline_addr = kCmdlineAddr;
  in.rsdp_addr = rsdp;
  in.initrd_addr = boot.initrd_addr;
  in.initrd_size = boot.initrd_size;
  in.memmap = BuildE820Map(layout.below_hole, layout.above_4g);
  absl::StatusOr<std::vector<uint8_t>> info = BuildPvhStartInfo(in);
  if (!info.ok()) return info.status();
  if (absl::Status s = ram.Write(kPvhStartInfoAddr, *info); !s.ok()) {
    return Annotate(s, "hvm_start_info");
  }
  return boot;
}

}  // namespace

absl::Status CheckKernelFits(absl::Span<const uint8_t> kernel,
                             uint64_t initrd_size, uint64_t memory_bytes) {
  const uint64_t below_hole = std::min(memory_bytes, kMmioHoleStart);
  if (LooksLikeElf(kernel)) {
    absl::StatusOr<PvhKernel> elf = ParsePvhElf(kernel);
    if (!elf.ok()) return elf.status();
    const uint64_t end = (elf->end + kPageSize - 1) & ~(kPageSize - 1);
    if (end + initrd_size > below_hole) {
      return absl::OutOfRangeError(absl::StrFormat(
          "ELF kernel (to 0x%x) and initramfs (%d bytes) do not fit in 0x%x "
          "bytes of RAM below the hole; raise --memory",
          end, initrd_size, below_hole));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<BzImage> image = ParseBzImage(kernel);
  if (!image.ok()) return image.status();
  return PlanBzImageLoad(*image, below_hole, initrd_size).status();
}

absl::StatusOr<KernelBoot> LoadKernel(const GuestRam& ram,
                                      absl::Span<const uint8_t> kernel,
                                      absl::Span<const uint8_t> initrd,
                                      std::string_view extra_cmdline,
                                      int num_cpus) {
  const RamLayout layout = LayoutOf(ram);
  if (layout.below_hole < kKernelLoadAddr) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest RAM below the hole is 0x%x bytes; ktvm needs at least 0x%x",
        layout.below_hole, kKernelLoadAddr));
  }
  absl::StatusOr<uint64_t> rsdp = WriteFirmwareTables(ram, num_cpus);
  if (!rsdp.ok()) return rsdp.status();
  if (LooksLikeElf(kernel)) {
    return LoadPvhElf(ram, kernel, initrd, extra_cmdline, *rsdp, layout);
  }
  return LoadBzImage(ram, kernel, initrd, extra_cmdline, *rsdp, layout);
}

}  // namespace ktvm::vmm::x86_64

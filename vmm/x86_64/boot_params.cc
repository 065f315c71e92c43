#include "vmm/x86_64/boot_params.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint8_t kLoaderTypeUndefined = 0xff;
constexpr uint16_t kProtocolAcpiRsdp = 0x020e;  // 2.14

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
uint64_t AlignDown(uint64_t v, uint64_t a) { return v & ~(a - 1); }

}  // namespace

absl::StatusOr<std::string> BuildKernelCmdline(std::string_view user_words,
                                               uint32_t header_cmdline_size) {
  std::string line(kDefaultKernelCmdline);
  const absl::string_view words = absl::StripAsciiWhitespace(
      absl::string_view(user_words.data(), user_words.size()));
  if (!words.empty()) absl::StrAppend(&line, " ", words);
  // cmdline_size excludes the NUL; 0 (old protocols) means 255.
  uint64_t limit = header_cmdline_size == 0 ? 255 : header_cmdline_size;
  limit = std::min<uint64_t>(limit, kCmdlineMaxBytes - 1);
  if (line.size() > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel command line is %d bytes, the kernel accepts at most %d",
        line.size(), limit));
  }
  return line;
}

absl::StatusOr<LoadPlan> PlanBzImageLoad(const BzImage& image,
                                         uint64_t ram_below_hole,
                                         uint64_t initrd_size) {
  LoadPlan plan{};
  if (image.relocatable) {
    plan.kernel_addr = AlignUp(kKernelLoadAddr, image.kernel_alignment);
  } else {
    plan.kernel_addr = image.pref_address;
    if (plan.kernel_addr < kHighMemoryStart) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "kernel is not relocatable and prefers address 0x%x, below 1 MiB",
          plan.kernel_addr));
    }
  }
  const uint64_t footprint =
      std::max<uint64_t>(image.init_size, image.kernel_size);
  plan.kernel_end = AlignUp(plan.kernel_addr + footprint, kPageSize);
  if (plan.kernel_end > ram_below_hole) {
    return absl::OutOfRangeError(absl::StrFormat(
        "kernel needs RAM up to 0x%x (load address 0x%x + init_size 0x%x) but "
        "guest RAM ends at 0x%x; raise --memory",
        plan.kernel_end, plan.kernel_addr, footprint, ram_below_hole));
  }
  plan.entry64 = plan.kernel_addr + kEntry64Offset;
  plan.initrd_size = initrd_size;
  if (initrd_size == 0) return plan;
  // Highest page-aligned spot below both the RAM end and initrd_addr_max,
  // the way boot loaders do it, leaving the low area to the kernel.
  const uint64_t max_end = std::min<uint64_t>(
      ram_below_hole, static_cast<uint64_t>(image.initrd_addr_max) + 1);
  if (initrd_size > max_end ||
      AlignDown(max_end - initrd_size, kPageSize) < plan.kernel_end) {
    return absl::OutOfRangeError(absl::StrFormat(
        "initramfs of %d bytes does not fit between the kernel's end 0x%x and "
        "0x%x (end of RAM or initrd_addr_max); raise --memory",
        initrd_size, plan.kernel_end, max_end));
  }
  plan.initrd_addr = AlignDown(max_end - initrd_size, kPageSize);
  return plan;
}

absl::StatusOr<boot_params> BuildBootParams(const BootParamsInput& in) {
  boot_params params;
  std::memset(&params, 0, sizeof(params));
  // Copy the header exactly as the file has it; the kernel reads fields
  // (e.g. setup_sects, version) back from here.
  const size_t bytes = std::min(in.image->header_bytes, sizeof(setup_header));
  if (in.image_bytes.size() < kSetupHeaderOffset + bytes) {
    return absl::InvalidArgumentError("image bytes shorter than its header");
  }
  std::memcpy(&params.hdr, in.image_bytes.data() + kSetupHeaderOffset, bytes);
  setup_header& h = params.hdr;
  h.type_of_loader = kLoaderTypeUndefined;
  h.loadflags |= LOADED_HIGH;
  h.loadflags &= ~KEEP_SEGMENTS;
  h.code32_start = static_cast<uint32_t>(in.plan.kernel_addr);
  h.cmd_line_ptr = static_cast<uint32_t>(in.cmdline_addr);
  params.ext_cmd_line_ptr = static_cast<uint32_t>(in.cmdline_addr >> 32);
  if (in.plan.initrd_size > 0) {
    h.ramdisk_image = static_cast<uint32_t>(in.plan.initrd_addr);
    h.ramdisk_size = static_cast<uint32_t>(in.plan.initrd_size);
    params.ext_ramdisk_image = static_cast<uint32_t>(in.plan.initrd_addr >> 32);
    params.ext_ramdisk_size = static_cast<uint32_t>(in.plan.initrd_size >> 32);
  }
  if (in.acpi_rsdp_addr != 0 && in.image->protocol >= kProtocolAcpiRsdp) {
    params.acpi_rsdp_addr = in.acpi_rsdp_addr;
  }
  if (in.e820.size() > E820_MAX_ENTRIES_ZEROPAGE) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d E820 entries exceed the zero page's %d",
                        in.e820.size(), E820_MAX_ENTRIES_ZEROPAGE));
  }
  for (size_t i = 0; i < in.e820.size(); ++i) {
    params.e820_table[i].addr = in.e820[i].addr;
    params.e820_table[i].size = in.e820[i].size;
    params.e820_table[i].type = static_cast<uint32_t>(in.e820[i].type);
  }
  params.e820_entries = static_cast<uint8_t>(in.e820.size());
  return params;
}

}  // namespace ktvm::vmm::x86_64

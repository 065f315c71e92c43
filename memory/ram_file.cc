#include "memory/ram_file.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "memory/file_mapping.h"

namespace ktvm::memory {

std::vector<RamFileRegion> QemuPcRamLayout(uint64_t ram_bytes) {
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  const uint64_t lowmem =
      ram_bytes >= 3 * kGiB + kGiB / 2 ? 3 * kGiB : ram_bytes;
  std::vector<RamFileRegion> regions = {
      {.guest_phys = 0, .file_offset = 0, .size = lowmem}};
  if (ram_bytes > lowmem) {
    regions.push_back({.guest_phys = 4 * kGiB,
                       .file_offset = lowmem,
                       .size = ram_bytes - lowmem});
  }
  return regions;
}

absl::StatusOr<GuestMemory> OpenRamFile(const std::string& path,
                                        std::vector<RamFileRegion> layout) {
  uint64_t needed = 0;
  for (const RamFileRegion& r : layout) {
    if (r.file_offset + r.size < r.file_offset) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "RAM file region at file offset 0x%x of 0x%x bytes overflows",
          r.file_offset, r.size));
    }
    needed = std::max(needed, r.file_offset + r.size);
  }
  if (needed == 0) {
    return absl::InvalidArgumentError("RAM file layout has no bytes");
  }
  absl::StatusOr<std::shared_ptr<const FileMapping>> file =
      FileMapping::Open(path, needed);
  if (!file.ok()) return file.status();
  std::vector<MemoryRegion> regions;
  for (const RamFileRegion& r : layout) {
    regions.push_back({.guest_phys = r.guest_phys,
                       .size = r.size,
                       .host = (*file)->bytes().data() + r.file_offset});
  }
  return GuestMemory::FromRegions(std::move(regions), *std::move(file));
}

}  // namespace ktvm::memory

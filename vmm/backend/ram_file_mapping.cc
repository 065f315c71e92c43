#include "vmm/backend/ram_file_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "memory/ram_file.h"
#include "vmm/backend/unique_fd.h"

namespace ktvm::backend {

std::vector<RamRegion> PcMachineRamLayout(uint64_t ram_bytes) {
  // One rule for the layout, owned by memory/ (ram_file.h).
  std::vector<RamRegion> regions;
  for (const memory::RamFileRegion& r : memory::QemuPcRamLayout(ram_bytes)) {
    regions.push_back({r.guest_phys, r.file_offset, r.size});
  }
  return regions;
}

absl::StatusOr<std::unique_ptr<RamFileMapping>> RamFileMapping::Map(
    const std::string& path, uint64_t ram_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::NotFoundError(absl::StrFormat(
        "cannot open guest RAM file %s: %s", path, std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::InternalError(
        absl::StrFormat("fstat %s: %s", path, std::strerror(errno)));
  }
  if (static_cast<uint64_t>(st.st_size) < ram_bytes) {
    return absl::FailedPreconditionError(
        absl::StrFormat("guest RAM file %s has %d bytes, expected at least %d",
                        path, st.st_size, ram_bytes));
  }
  void* base = mmap(nullptr, ram_bytes, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("mmap of %d bytes of %s failed: %s", ram_bytes, path,
                        std::strerror(errno)));
  }
  return std::unique_ptr<RamFileMapping>(
      new RamFileMapping(static_cast<const uint8_t*>(base), ram_bytes,
                         PcMachineRamLayout(ram_bytes)));
}

RamFileMapping::~RamFileMapping() {
  munmap(const_cast<uint8_t*>(base_), size_);
}

absl::Span<const uint8_t> RamFileMapping::RegionBytes(
    const RamRegion& r) const {
  return absl::Span<const uint8_t>(base_ + r.file_offset, r.size);
}

absl::Status RamFileMapping::Read(uint64_t gpa, absl::Span<uint8_t> out) const {
  for (const RamRegion& r : regions_) {
    if (gpa >= r.gpa && gpa - r.gpa <= r.size &&
        out.size() <= r.size - (gpa - r.gpa)) {
      std::memcpy(out.data(), base_ + r.file_offset + (gpa - r.gpa),
                  out.size());
      return absl::OkStatus();
    }
  }
  return absl::OutOfRangeError(
      absl::StrFormat("guest-physical range [%#x, %#x) is not inside guest RAM",
                      gpa, gpa + out.size()));
}

}  // namespace ktvm::backend

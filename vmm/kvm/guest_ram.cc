#include "vmm/kvm/guest_ram.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ktvm::vmm {

absl::StatusOr<GuestRam> GuestRam::Create(uint64_t total_bytes,
                                          uint64_t hole_start,
                                          uint64_t hole_end) {
  if (total_bytes == 0 || total_bytes % 4096 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest RAM size %d is not a positive multiple of 4096", total_bytes));
  }
  if (hole_start > hole_end || hole_start % 4096 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad MMIO hole [0x%x, 0x%x)", hole_start, hole_end));
  }
  // NORESERVE: untouched guest pages cost nothing on the host.
  void* addr = ::mmap(nullptr, total_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("cannot map %d bytes of guest RAM: %s", total_bytes,
                        std::strerror(errno)));
  }
  UniqueMmap mapping(addr, total_bytes);
  auto* host = static_cast<uint8_t*>(addr);
  std::vector<RamRegion> regions;
  const uint64_t low = std::min(total_bytes, hole_start);
  regions.push_back({0, low, host});
  if (total_bytes > low) {
    regions.push_back({hole_end, total_bytes - low, host + low});
  }
  return GuestRam(std::move(mapping), std::move(regions));
}

absl::StatusOr<absl::Span<uint8_t>> GuestRam::Slice(uint64_t gpa,
                                                    uint64_t len) const {
  for (const RamRegion& r : regions_) {
    if (gpa >= r.gpa && gpa - r.gpa <= r.size &&
        len <= r.size - (gpa - r.gpa)) {
      return absl::Span<uint8_t>(r.host + (gpa - r.gpa), len);
    }
  }
  return absl::OutOfRangeError(absl::StrFormat(
      "guest-physical range [0x%x, 0x%x) is not inside guest RAM", gpa,
      gpa + len));
}

absl::Status GuestRam::Write(uint64_t gpa,
                             absl::Span<const uint8_t> bytes) const {
  absl::StatusOr<absl::Span<uint8_t>> dst = Slice(gpa, bytes.size());
  if (!dst.ok()) return dst.status();
  std::memcpy(dst->data(), bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status GuestRam::Read(uint64_t gpa, absl::Span<uint8_t> out) const {
  absl::StatusOr<absl::Span<uint8_t>> src = Slice(gpa, out.size());
  if (!src.ok()) return src.status();
  std::memcpy(out.data(), src->data(), out.size());
  return absl::OkStatus();
}

}  // namespace ktvm::vmm

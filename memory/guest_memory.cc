#include "memory/guest_memory.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

// Little-endian load of N bytes; guest data is never assumed aligned.
template <typename T>
absl::StatusOr<T> ReadScalar(const GuestMemory& memory, uint64_t pa) {
  T value = 0;
  if (const uint8_t* host = memory.HostPointer(pa, sizeof(T))) {
    std::memcpy(&value, host, sizeof(T));
    return value;
  }
  absl::Status status = memory.Read(
      pa, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
  if (!status.ok()) return status;
  return value;
}

}  // namespace

absl::StatusOr<GuestMemory> GuestMemory::FromRegions(
    std::vector<MemoryRegion> regions, std::shared_ptr<const void> keepalive) {
  std::sort(regions.begin(), regions.end(),
            [](const MemoryRegion& a, const MemoryRegion& b) {
              return a.guest_phys < b.guest_phys;
            });
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegion& r = regions[i];
    if (r.size == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("empty guest memory region at 0x%x", r.guest_phys));
    }
    if (r.host == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "guest memory region at 0x%x has no host mapping", r.guest_phys));
    }
    // The last byte must be addressable: guest_phys + size - 1 may not wrap.
    if (r.guest_phys + (r.size - 1) < r.guest_phys) {
      return absl::InvalidArgumentError(
          absl::StrFormat("guest memory region at 0x%x of 0x%x bytes wraps "
                          "past the end of the address space",
                          r.guest_phys, r.size));
    }
    if (i > 0) {
      const MemoryRegion& prev = regions[i - 1];
      if (r.guest_phys - prev.guest_phys < prev.size) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "guest memory regions overlap: [0x%x, +0x%x) and [0x%x, +0x%x)",
            prev.guest_phys, prev.size, r.guest_phys, r.size));
      }
    }
  }
  GuestMemory memory;
  memory.regions_ = std::move(regions);
  memory.keepalive_ = std::move(keepalive);
  return memory;
}

const MemoryRegion* GuestMemory::FindRegion(uint64_t pa) const {
  // First region starting after pa; the candidate is the one before it.
  auto it = std::upper_bound(
      regions_.begin(), regions_.end(), pa,
      [](uint64_t addr, const MemoryRegion& r) { return addr < r.guest_phys; });
  if (it == regions_.begin()) return nullptr;
  const MemoryRegion& r = *std::prev(it);
  return pa - r.guest_phys < r.size ? &r : nullptr;
}

const uint8_t* GuestMemory::HostPointer(uint64_t pa, uint64_t len) const {
  const MemoryRegion* r = FindRegion(pa);
  if (r == nullptr) return nullptr;
  const uint64_t offset = pa - r->guest_phys;
  if (len > r->size - offset) return nullptr;
  return r->host + offset;
}

bool GuestMemory::Contains(uint64_t pa, uint64_t len) const {
  if (len == 0) return true;
  if (pa + (len - 1) < pa) return false;
  // Walks adjacent regions; bounded by the region count.
  uint64_t cursor = pa;
  uint64_t remaining = len;
  while (remaining > 0) {
    const MemoryRegion* r = FindRegion(cursor);
    if (r == nullptr) return false;
    const uint64_t avail = r->size - (cursor - r->guest_phys);
    if (avail >= remaining) return true;
    remaining -= avail;
    cursor += avail;
  }
  return true;
}

absl::Status GuestMemory::Read(uint64_t pa, absl::Span<uint8_t> out) const {
  if (!out.empty() && pa + (out.size() - 1) < pa) {
    return absl::OutOfRangeError(absl::StrFormat(
        "read of 0x%x bytes at guest-physical 0x%x wraps the address space",
        out.size(), pa));
  }
  uint64_t cursor = pa;
  size_t done = 0;
  while (done < out.size()) {
    const MemoryRegion* r = FindRegion(cursor);
    if (r == nullptr) {
      return absl::OutOfRangeError(absl::StrFormat(
          "guest-physical 0x%x is outside guest memory (read of 0x%x bytes "
          "at 0x%x)",
          cursor, out.size(), pa));
    }
    const uint64_t offset = cursor - r->guest_phys;
    const uint64_t chunk =
        std::min<uint64_t>(r->size - offset, out.size() - done);
    std::memcpy(out.data() + done, r->host + offset, chunk);
    done += chunk;
    cursor += chunk;
  }
  return absl::OkStatus();
}

size_t GuestMemory::ReadZeroFill(uint64_t pa, absl::Span<uint8_t> out) const {
  size_t backed = 0;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t cursor = pa + done;  // Wraps like the guest would.
    const size_t remaining = out.size() - done;
    if (const MemoryRegion* r = FindRegion(cursor)) {
      const uint64_t offset = cursor - r->guest_phys;
      const uint64_t chunk = std::min<uint64_t>(r->size - offset, remaining);
      std::memcpy(out.data() + done, r->host + offset, chunk);
      backed += chunk;
      done += chunk;
      continue;
    }
    // Zero up to the next region start (or the end of the request).
    auto next = std::upper_bound(regions_.begin(), regions_.end(), cursor,
                                 [](uint64_t addr, const MemoryRegion& r) {
                                   return addr < r.guest_phys;
                                 });
    uint64_t gap = remaining;
    if (next != regions_.end()) {
      gap = std::min<uint64_t>(gap, next->guest_phys - cursor);
    }
    std::memset(out.data() + done, 0, gap);
    done += gap;
  }
  return backed;
}

absl::StatusOr<uint8_t> GuestMemory::ReadU8(uint64_t pa) const {
  return ReadScalar<uint8_t>(*this, pa);
}
absl::StatusOr<uint16_t> GuestMemory::ReadU16(uint64_t pa) const {
  return ReadScalar<uint16_t>(*this, pa);
}
absl::StatusOr<uint32_t> GuestMemory::ReadU32(uint64_t pa) const {
  return ReadScalar<uint32_t>(*this, pa);
}
absl::StatusOr<uint64_t> GuestMemory::ReadU64(uint64_t pa) const {
  return ReadScalar<uint64_t>(*this, pa);
}

absl::StatusOr<std::string> GuestMemory::ReadCString(uint64_t pa,
                                                     size_t max_len) const {
  std::string out;
  // Reads region by region, so a string ending just before a hole is fine.
  uint64_t cursor = pa;
  while (out.size() < max_len) {
    const MemoryRegion* r = FindRegion(cursor);
    if (r == nullptr) {
      return absl::OutOfRangeError(absl::StrFormat(
          "C string at guest-physical 0x%x runs into unbacked address 0x%x", pa,
          cursor));
    }
    const uint64_t offset = cursor - r->guest_phys;
    const uint64_t chunk =
        std::min<uint64_t>(r->size - offset, max_len - out.size());
    const uint8_t* start = r->host + offset;
    const void* nul = std::memchr(start, 0, chunk);
    if (nul != nullptr) {
      out.append(reinterpret_cast<const char*>(start),
                 static_cast<const uint8_t*>(nul) - start);
      return out;
    }
    out.append(reinterpret_cast<const char*>(start), chunk);
    cursor += chunk;
    if (cursor == 0) break;  // Wrapped past the top of the address space.
  }
  return out;
}

uint64_t GuestMemory::total_bytes() const {
  uint64_t total = 0;
  for (const MemoryRegion& r : regions_) total += r.size;
  return total;
}

}  // namespace ktvm::memory

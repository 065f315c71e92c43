#include "vmm/devices/io_bus.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ktvm::vmm {

absl::Status IoBus::Register(uint64_t base, uint64_t length, IoDevice* device) {
  if (length == 0 || base + length < base) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s bus: bad range base 0x%x length 0x%x", name_, base, length));
  }
  for (const Range& r : ranges_) {
    if (base < r.base + r.length && r.base < base + length) {
      return absl::AlreadyExistsError(
          absl::StrFormat("%s bus: [0x%x, 0x%x) overlaps [0x%x, 0x%x)", name_,
                          base, base + length, r.base, r.base + r.length));
    }
  }
  ranges_.push_back({base, length, device});
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.base < b.base; });
  return absl::OkStatus();
}

const IoBus::Range* IoBus::Find(uint64_t addr) const {
  auto it =
      std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                       [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return addr - it->base < it->length ? &*it : nullptr;
}

bool IoBus::Read(uint64_t addr, absl::Span<uint8_t> data) {
  if (const Range* r = Find(addr)) {
    r->device->Read(addr - r->base, data);
    return true;
  }
  std::memset(data.data(), 0xff, data.size());
  unknown_reads_.fetch_add(1);
  last_unknown_addr_.store(addr);
  return false;
}

bool IoBus::Write(uint64_t addr, absl::Span<const uint8_t> data) {
  if (const Range* r = Find(addr)) {
    r->device->Write(addr - r->base, data);
    return true;
  }
  unknown_writes_.fetch_add(1);
  last_unknown_addr_.store(addr);
  return false;
}

}  // namespace ktvm::vmm

#include "tests/e2e/guest_ram_scan.h"

#include <cstring>
#include <string_view>

extern "C" {
#include "tests/schedulers/ktvm_fifo.h"
}

namespace ktvm::e2e {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kElemSize = 24;  // round_up(8 + sizeof(ktvm_task_ctx), 8)
static_assert(sizeof(ktvm_task_ctx) + 8 == kElemSize);

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

std::vector<std::string> FindOsReleases(const backend::RamFileMapping& ram) {
  std::vector<std::string> found;
  constexpr std::string_view kKey = "OSRELEASE=";
  for (const backend::RamRegion& r : ram.regions()) {
    auto bytes = ram.RegionBytes(r);
    std::string_view all(reinterpret_cast<const char*>(bytes.data()),
                         bytes.size());
    for (size_t pos = all.find(kKey); pos != std::string_view::npos;
         pos = all.find(kKey, pos + 1)) {
      const size_t start = pos + kKey.size();
      const size_t end = all.find('\n', start);
      if (end == std::string_view::npos || end - start > 64) continue;
      found.emplace_back(all.substr(start, end - start));
    }
  }
  return found;
}

std::vector<TaskCtxEntry> FindTaskContexts(const backend::RamFileMapping& ram) {
  std::vector<TaskCtxEntry> found;
  for (const backend::RamRegion& r : ram.regions()) {
    auto bytes = ram.RegionBytes(r);
    for (uint64_t page = 0; page + kPage <= bytes.size(); page += kPage) {
      const uint8_t* p = bytes.data() + page;
      for (uint64_t off = 0; off + kElemSize <= kPage; off += kElemSize) {
        const uint8_t* e = p + off;
        if (Load<uint32_t>(e + 12) != KTVM_TASK_MAGIC) continue;
        TaskCtxEntry entry;
        entry.gpa = r.gpa + page + off;
        entry.idx = Load<int32_t>(e);
        entry.genn = Load<int32_t>(e + 4);
        entry.pid = Load<int32_t>(e + 8);
        entry.counter = Load<uint64_t>(e + 16);
        // Fewer than 512 * 512 tasks keep every index in the first level-0
        // subtree (first clear bit), which rules out look-alikes such as BPF
        // instructions that store the magic; pids stay below PID_MAX_LIMIT.
        if (entry.idx < 0 || entry.idx >= (1 << 18) || entry.pid <= 0 ||
            entry.pid > (1 << 22) || entry.genn < 0) {
          continue;
        }
        found.push_back(entry);
      }
    }
  }
  return found;
}

}  // namespace ktvm::e2e

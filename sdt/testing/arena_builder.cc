#include "sdt/testing/arena_builder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "sdt/sdt_layout.h"

namespace ktvm::sdt::testing {
namespace {

constexpr uint64_t kTablePool = 0x100000;
constexpr uint64_t kTablePoolSize = 0x100000;

memory::GuestMemory ViewOrDie(const memory::TestRam& ram) {
  absl::StatusOr<memory::GuestMemory> view = ram.View();
  if (!view.ok()) std::abort();
  return *std::move(view);
}

memory::TestRam MakeRam(uint64_t bytes) {
  memory::TestRam ram;
  ram.AddRegion(0, bytes);
  return ram;
}

uint32_t Pos(uint32_t idx, int level) {
  return (idx >> (kSdtFanoutShift * (kSdtLevels - 1 - level))) &
         (kSdtFanout - 1);
}

}  // namespace

TestArena::TestArena(uint64_t window_bytes, uint64_t ram_bytes)
    : window_bytes_(window_bytes),
      ram_(MakeRam(ram_bytes)),
      tables_(ram_, memory::X86PagingMode::kFourLevel, kTablePool,
              kTablePoolSize),
      memory_(ViewOrDie(ram_)),
      translator_(tables_.root(), memory::X86PagingMode::kFourLevel),
      kernel_memory_(
          std::make_unique<memory::TranslatedMemory>(memory_, translator_)),
      next_frame_(ram_bytes),
      frame_floor_(kTablePool + kTablePoolSize) {}

uint64_t TestArena::FreshFrame() {
  if (next_frame_ < frame_floor_ + kPageSize) std::abort();  // RAM too small.
  next_frame_ -= kPageSize;
  return next_frame_;
}

ArenaWindow TestArena::window() const {
  ArenaWindow w;
  w.user_vm_start = kUserVmStart;
  w.user_vm_end = kUserVmStart + window_bytes_;
  w.kern_vm_start = kVmStructAddr + ArenaGuardSize(kPageSize) / 2;
  w.page_size = kPageSize;
  return w;
}

uint64_t TestArena::Allocate(uint64_t size, uint64_t align) {
  const uint64_t start = (next_user_ + align - 1) / align * align;
  const uint64_t end = start + size;
  if (end > kUserVmStart + window_bytes_) std::abort();  // Window full.
  const ArenaWindow w = window();
  for (uint64_t page = start & ~(kPageSize - 1); page < end;
       page += kPageSize) {
    const uint64_t kva = w.KernelAddress(page);
    if (frames_.count(kva) != 0) continue;
    const uint64_t frame = FreshFrame();
    tables_.Map(kva, frame, kPageSize);
    frames_[kva] = frame;
  }
  next_user_ = end;
  return start;
}

void TestArena::AliasPage(uint64_t user_addr, uint64_t target_user_addr) {
  const ArenaWindow w = window();
  const uint64_t kva = w.KernelAddress(user_addr & ~(kPageSize - 1));
  const auto target =
      frames_.find(w.KernelAddress(target_user_addr & ~(kPageSize - 1)));
  if (target == frames_.end() || frames_.count(kva) != 0) std::abort();
  tables_.Map(kva, target->second, kPageSize);
  frames_[kva] = target->second;
}

void TestArena::MapKernelPage(uint64_t kva) {
  const uint64_t page = kva & ~(kPageSize - 1);
  if (frames_.count(page) != 0) return;
  const uint64_t frame = FreshFrame();
  tables_.Map(page, frame, kPageSize);
  frames_[page] = frame;
}

uint8_t* TestArena::HostOfKernel(uint64_t kva, uint64_t len) const {
  const auto it = frames_.find(kva & ~(kPageSize - 1));
  if (it == frames_.end() || (kva & (kPageSize - 1)) + len > kPageSize) {
    std::abort();  // The test wrote to a page it never mapped.
  }
  return const_cast<memory::TestRam&>(ram_).Host(
      it->second + (kva & (kPageSize - 1)), len);
}

void TestArena::WriteKernel(uint64_t kva, absl::Span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const uint64_t n =
        std::min<uint64_t>(bytes.size(), kPageSize - (kva & (kPageSize - 1)));
    std::memcpy(HostOfKernel(kva, n), bytes.data(), n);
    bytes.remove_prefix(n);
    kva += n;
  }
}

void TestArena::WriteKernelU64(uint64_t kva, uint64_t value) {
  uint8_t b[8];
  std::memcpy(b, &value, 8);
  WriteKernel(kva, b);
}

void TestArena::Write(uint64_t user_addr, absl::Span<const uint8_t> bytes) {
  WriteKernel(window().KernelAddress(user_addr), bytes);
}

void TestArena::WriteU64(uint64_t user_addr, uint64_t value) {
  WriteKernelU64(window().KernelAddress(user_addr), value);
}

uint64_t TestArena::ReadU64(uint64_t user_addr) const {
  uint64_t v;
  std::memcpy(&v, HostOfKernel(window().KernelAddress(user_addr), 8), 8);
  return v;
}

const memory::TranslatedMemory& TestArena::kernel_memory() const {
  kernel_memory_->InvalidateCache();
  return *kernel_memory_;
}

SdtTreeBuilder::SdtTreeBuilder(TestArena& arena, uint64_t elem_size)
    : arena_(arena), elem_size_(elem_size), root_(NewDesc()) {}

uint64_t SdtTreeBuilder::NewDesc() {
  const uint64_t desc = arena_.Allocate(kDescSize);
  const uint64_t chunk = arena_.Allocate(kSdtFanout * 8, TestArena::kPageSize);
  arena_.WriteU64(desc + 64, kSdtFanout);  // nr_free
  arena_.WriteU64(desc + 72, chunk);
  return desc;
}

bool SdtTreeBuilder::BitSet(uint64_t desc, uint32_t pos) const {
  return (arena_.ReadU64(desc + (pos / 64) * 8) >> (pos % 64)) & 1;
}

void SdtTreeBuilder::SetBit(uint64_t desc, uint32_t pos, bool value) {
  const uint64_t word_addr = desc + (pos / 64) * 8;
  uint64_t word = arena_.ReadU64(word_addr);
  const uint64_t mask = uint64_t{1} << (pos % 64);
  word = value ? word | mask : word & ~mask;
  arena_.WriteU64(word_addr, word);
}

uint64_t SdtTreeBuilder::DescAddr(int level, uint32_t idx) const {
  uint64_t desc = root_;
  for (int l = 0; l < level && desc != 0; ++l) {
    desc = arena_.ReadU64(ChunkSlotAddr(l, idx, Pos(idx, l)));
  }
  return desc;
}

uint64_t SdtTreeBuilder::ChunkSlotAddr(int level, uint32_t idx,
                                       uint32_t pos) const {
  const uint64_t desc = DescAddr(level, idx);
  if (desc == 0) std::abort();
  return arena_.ReadU64(desc + 72) + uint64_t{pos} * 8;
}

uint64_t SdtTreeBuilder::DataAddr(uint32_t idx) const {
  return arena_.ReadU64(ChunkSlotAddr(kSdtLevels - 1, idx, Pos(idx, 2)));
}

void SdtTreeBuilder::AllocAt(uint32_t idx, absl::Span<const uint8_t> payload) {
  if (payload.size() > elem_size_ - kSdtIdSize) std::abort();
  uint64_t descs[kSdtLevels];
  uint64_t desc = root_;
  for (int level = 0; level < kSdtLevels; ++level) {
    descs[level] = desc;
    const uint64_t slot = ChunkSlotAddr(level, idx, Pos(idx, level));
    uint64_t child = arena_.ReadU64(slot);
    if (child == 0) {
      child = level < kSdtLevels - 1 ? NewDesc() : arena_.Allocate(elem_size_);
      arena_.WriteU64(slot, child);
    }
    desc = child;
  }
  const uint64_t data = desc;
  if (BitSet(descs[2], Pos(idx, 2))) std::abort();  // Already live.

  // Bits upward: a descriptor's bit in its parent is set only when the
  // descriptor has just become full.
  for (int level = kSdtLevels - 1; level >= 0; --level) {
    SetBit(descs[level], Pos(idx, level), true);
    const uint64_t nr_free = arena_.ReadU64(descs[level] + 64) - 1;
    arena_.WriteU64(descs[level] + 64, nr_free);
    if (nr_free != 0) break;
  }

  const uint32_t old_genn = static_cast<uint32_t>(arena_.ReadU64(data) >> 32);
  std::vector<uint8_t> slot(elem_size_, 0);
  const uint64_t tid = uint64_t{old_genn} << 32 | idx;
  std::memcpy(slot.data(), &tid, 8);
  std::copy(payload.begin(), payload.end(), slot.begin() + kSdtIdSize);
  arena_.Write(data, slot);
  ++allocated_;
}

uint32_t SdtTreeBuilder::Alloc(absl::Span<const uint8_t> payload) {
  uint32_t idx = 0;
  uint64_t desc = root_;
  for (int level = 0; level < kSdtLevels; ++level) {
    uint32_t pos = 0;
    if (desc != 0) {
      while (pos < kSdtFanout && BitSet(desc, pos)) ++pos;
      if (pos == kSdtFanout) std::abort();  // Allocator full.
      desc = arena_.ReadU64(arena_.ReadU64(desc + 72) + uint64_t{pos} * 8);
    }
    idx = idx << kSdtFanoutShift | pos;
    if (level == kSdtLevels - 1) break;
  }
  AllocAt(idx, payload);
  return idx;
}

void SdtTreeBuilder::Free(uint32_t idx) {
  const uint64_t data = DataAddr(idx);
  if (data == 0) std::abort();
  const uint32_t genn = static_cast<uint32_t>(arena_.ReadU64(data) >> 32);
  std::vector<uint8_t> slot(elem_size_, 0);
  const uint64_t tid = uint64_t{genn + 1} << 32;
  std::memcpy(slot.data(), &tid, 8);
  arena_.Write(data, slot);
  for (int level = kSdtLevels - 1; level >= 0; --level) {
    const uint64_t desc = DescAddr(level, idx);
    SetBit(desc, Pos(idx, level), false);
    const uint64_t nr_free = arena_.ReadU64(desc + 64) + 1;
    arena_.WriteU64(desc + 64, nr_free);
    // Only a descriptor that was full has its bit set in the parent.
    if (nr_free != 1) break;
  }
  --allocated_;
}

std::vector<uint8_t> SdtTreeBuilder::AllocatorBytes() const {
  std::vector<uint8_t> out(40, 0);
  const uint64_t fields[5] = {0, elem_size_, allocated_, allocated_, root_};
  std::memcpy(out.data(), fields, sizeof(fields));
  return out;
}

}  // namespace ktvm::sdt::testing

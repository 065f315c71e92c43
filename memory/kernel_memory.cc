#include "memory/kernel_memory.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

uint64_t EndOfMemory(const GuestMemory& memory) {
  if (memory.regions().empty()) return 0;
  const MemoryRegion& last = memory.regions().back();
  return last.guest_phys + last.size;
}

}  // namespace

KernelMemory::KernelMemory(const GuestMemory& memory,
                           const AddressTranslator& translator,
                           X86_64KernelLayout layout)
    : memory_(memory), walked_(memory, translator) {
  direct_map_ = {.va_start = layout.page_offset_base,
                 .size = layout.direct_map_bytes != 0 ? layout.direct_map_bytes
                                                      : EndOfMemory(memory),
                 .pa_start = 0,
                 .kind = KernelAddressKind::kDirectMap};
  image_ = {.va_start = layout.kernel_map_start,
            .size = layout.kernel_image_bytes,
            .pa_start = layout.phys_base,
            .kind = KernelAddressKind::kKernelImage};
}

KernelMemory::KernelMemory(const GuestMemory& memory,
                           const AddressTranslator& translator,
                           Aarch64KernelLayout layout)
    : memory_(memory), walked_(memory, translator) {
  const int bits = std::clamp(layout.va_bits, 1, 63);
  const uint64_t page_offset = ~0ULL << bits;  // -(1 << VA_BITS)
  const uint64_t page_end = ~0ULL << (bits - 1);
  // Only the part backed by guest memory: beyond it the kernel maps nothing
  // (or, after hotplug, something this memory cannot read anyway).
  const uint64_t backed = EndOfMemory(memory) > layout.phys_offset
                              ? EndOfMemory(memory) - layout.phys_offset
                              : 0;
  direct_map_ = {.va_start = page_offset,
                 .size = std::min(page_end - page_offset, backed),
                 .pa_start = layout.phys_offset,
                 .kind = KernelAddressKind::kDirectMap};
  image_ = {.va_start = layout.kimage_start,
            .size = layout.kimage_bytes,
            .pa_start = layout.kimage_start - layout.kimage_voffset,
            .kind = KernelAddressKind::kKernelImage};
}

absl::StatusOr<KernelTranslation> KernelMemory::Translate(uint64_t va) const {
  for (const LinearRange* r : {&direct_map_, &image_}) {
    if (va - r->va_start < r->size) {
      return KernelTranslation{.phys_addr = va - r->va_start + r->pa_start,
                               .kind = r->kind};
    }
  }
  absl::StatusOr<Translation> t = walked_.Translate(va);
  if (!t.ok()) return t.status();
  return KernelTranslation{.phys_addr = t->phys_addr,
                           .kind = KernelAddressKind::kPageTableWalk};
}

absl::StatusOr<uint64_t> KernelMemory::PhysicalAddress(uint64_t va) const {
  absl::StatusOr<KernelTranslation> t = Translate(va);
  if (!t.ok()) return t.status();
  return t->phys_addr;
}

absl::Status KernelMemory::ReadVirtual(uint64_t va,
                                       absl::Span<uint8_t> out) const {
  return ReadByPage(
      memory_, va, out, [this](uint64_t v) { return PhysicalAddress(v); },
      "kernel address");
}

std::vector<PageFailure> KernelMemory::ReadVirtualBestEffort(
    uint64_t va, absl::Span<uint8_t> out) const {
  return ReadByPageBestEffort(
      memory_, va, out, [this](uint64_t v) { return PhysicalAddress(v); });
}

}  // namespace ktvm::memory

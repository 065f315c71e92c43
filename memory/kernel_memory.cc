#include "memory/kernel_memory.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kPage = 4096;

}  // namespace

KernelMemory::KernelMemory(const GuestMemory& memory,
                           const AddressTranslator& translator,
                           X86_64KernelLayout layout)
    : memory_(memory), walked_(memory, translator), layout_(layout) {
  if (layout_.direct_map_bytes == 0 && !memory.regions().empty()) {
    const MemoryRegion& last = memory.regions().back();
    layout_.direct_map_bytes = last.guest_phys + last.size;
  }
}

absl::StatusOr<KernelTranslation> KernelMemory::Translate(uint64_t va) const {
  if (va - layout_.page_offset_base < layout_.direct_map_bytes) {
    return KernelTranslation{.phys_addr = va - layout_.page_offset_base,
                             .kind = KernelAddressKind::kDirectMap};
  }
  if (va - layout_.kernel_map_start < layout_.kernel_image_bytes) {
    return KernelTranslation{
        .phys_addr = va - layout_.kernel_map_start + layout_.phys_base,
        .kind = KernelAddressKind::kKernelImage};
  }
  absl::StatusOr<Translation> t = walked_.Translate(va);
  if (!t.ok()) return t.status();
  return KernelTranslation{.phys_addr = t->phys_addr,
                           .kind = KernelAddressKind::kPageTableWalk};
}

absl::Status KernelMemory::ReadVirtual(uint64_t va,
                                       absl::Span<uint8_t> out) const {
  if (!out.empty() && va + (out.size() - 1) < va) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtual read of 0x%x bytes at 0x%x wraps the address space",
        out.size(), va));
  }
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t cursor = va + done;
    const size_t chunk =
        std::min<uint64_t>(kPage - (cursor % kPage), out.size() - done);
    absl::StatusOr<KernelTranslation> t = Translate(cursor);
    absl::Status status =
        t.ok() ? memory_.Read(t->phys_addr, out.subspan(done, chunk))
               : t.status();
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrFormat("reading 0x%x bytes at kernel address 0x%x: page "
                          "0x%x: %s",
                          out.size(), va, cursor & ~(kPage - 1),
                          status.message()));
    }
    done += chunk;
  }
  return absl::OkStatus();
}

std::vector<PageFailure> KernelMemory::ReadVirtualBestEffort(
    uint64_t va, absl::Span<uint8_t> out) const {
  std::vector<PageFailure> failures;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t cursor = va + done;  // Wraps like the CPU would.
    const size_t chunk =
        std::min<uint64_t>(kPage - (cursor % kPage), out.size() - done);
    absl::Span<uint8_t> piece = out.subspan(done, chunk);
    absl::StatusOr<KernelTranslation> t = Translate(cursor);
    absl::Status status =
        t.ok() ? memory_.Read(t->phys_addr, piece) : t.status();
    if (!status.ok()) {
      std::fill(piece.begin(), piece.end(), 0);
      failures.push_back({.va = cursor & ~(kPage - 1), .status = status});
    }
    done += chunk;
  }
  return failures;
}

}  // namespace ktvm::memory

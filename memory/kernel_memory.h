// Reading Linux kernel addresses (x86_64, arm64) the way the kernel lays
// them out: the direct (linear) map and the kernel image by arithmetic (no
// table reads, so they keep working when page tables are damaged and cost
// nothing per page), everything else (vmalloc, modules, BPF arenas, per-CPU
// areas) by a page-table walk.
#ifndef KTVM_MEMORY_KERNEL_MEMORY_H_
#define KTVM_MEMORY_KERNEL_MEMORY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/address_translator.h"
#include "memory/guest_memory.h"
#include "memory/virtual_memory.h"

namespace ktvm::memory {

struct X86_64KernelLayout {
  // Start of the direct map. KASLR randomises it: take the value of the
  // kernel variable page_offset_base (read through the kernel image).
  uint64_t page_offset_base = 0;
  // How much of the address space after page_offset_base is the direct
  // map. 0: up to the end of guest memory's last region. Not the kernel's
  // 64 TiB maximum: with KASLR (RANDOMIZE_MEMORY) vmalloc_base follows the
  // direct map of the RAM that exists, well inside that maximum.
  uint64_t direct_map_bytes = 0;
  // phys_base (VMCOREINFO NUMBER(phys_base)): where the image was loaded
  // relative to its link address. May be "negative" (wraps), as the kernel
  // computes it.
  uint64_t phys_base = 0;
  // __START_KERNEL_map and KERNEL_IMAGE_SIZE (1 GiB with KASLR).
  uint64_t kernel_map_start = 0xffffffff80000000ULL;
  uint64_t kernel_image_bytes = 1ULL << 30;
};

// arm64 (VA_BITS flip layout, 5.4+): the linear map is the lower half of
// the kernel range, [-(1 << VA_BITS), -(1 << (VA_BITS - 1))); the image
// sits at kimage_voffset above its physical load address. All values are
// in VMCOREINFO (NUMBER(VA_BITS), NUMBER(PHYS_OFFSET),
// NUMBER(kimage_voffset)) and kallsyms (_text, _end).
struct Aarch64KernelLayout {
  int va_bits = 48;
  uint64_t phys_offset = 0;     // Physical address of the linear map start.
  uint64_t kimage_voffset = 0;  // Image VA - image PA.
  uint64_t kimage_start = 0;    // _text
  uint64_t kimage_bytes = 0;    // _end - _text
};

enum class KernelAddressKind { kDirectMap, kKernelImage, kPageTableWalk };

struct KernelTranslation {
  uint64_t phys_addr = 0;
  KernelAddressKind kind = KernelAddressKind::kPageTableWalk;
};

class KernelMemory : public VirtualMemoryReader {
 public:
  // `memory` and `translator` (the kernel's page tables, e.g. from CR3 or
  // VMCOREINFO's init_top_pgt) must outlive this object.
  KernelMemory(const GuestMemory& memory, const AddressTranslator& translator,
               X86_64KernelLayout layout);
  KernelMemory(const GuestMemory& memory, const AddressTranslator& translator,
               Aarch64KernelLayout layout);

  absl::StatusOr<KernelTranslation> Translate(uint64_t va) const;
  absl::Status ReadVirtual(uint64_t va, absl::Span<uint8_t> out) const override;
  // Reads what it can; unreadable pages are zero-filled and listed.
  std::vector<PageFailure> ReadVirtualBestEffort(uint64_t va,
                                                 absl::Span<uint8_t> out) const;

  // Walked translations are cached; call when the guest has run.
  void InvalidateCache() const { walked_.InvalidateCache(); }

 private:
  absl::StatusOr<uint64_t> PhysicalAddress(uint64_t va) const;

  // va in [va_start, va_start + size) is at pa = va - va_start + pa_start.
  struct LinearRange {
    uint64_t va_start = 0;
    uint64_t size = 0;
    uint64_t pa_start = 0;
    KernelAddressKind kind = KernelAddressKind::kDirectMap;
  };

  const GuestMemory& memory_;
  TranslatedMemory walked_;
  LinearRange direct_map_;
  LinearRange image_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_KERNEL_MEMORY_H_

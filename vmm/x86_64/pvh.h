// Booting an ELF kernel (vmlinux, or ktvm's test guest) through its Xen PVH
// entry: the ELF note XEN_ELFNOTE_PHYS32_ENTRY gives a 32-bit entry point
// that expects flat protected mode, paging off, and EBX pointing at an
// hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
#ifndef KTVM_VMM_X86_64_PVH_H_
#define KTVM_VMM_X86_64_PVH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/x86_64/e820.h"

namespace ktvm::vmm::x86_64 {

inline constexpr uint32_t kXenElfNotePhys32Entry = 18;
inline constexpr uint32_t kHvmStartMagic = 0x336ec578;
inline constexpr size_t kHvmStartInfoSize = 56;
inline constexpr size_t kHvmMemmapEntrySize = 24;
inline constexpr size_t kHvmModlistEntrySize = 32;

struct ElfSegment {
  uint64_t paddr;
  uint64_t file_offset;
  uint64_t file_size;
  uint64_t mem_size;
};

struct PvhKernel {
  uint64_t entry32;
  std::vector<ElfSegment> segments;  // PT_LOAD, by physical address
  uint64_t end;                      // highest paddr + memsz
};

bool LooksLikeElf(absl::Span<const uint8_t> image);

// Errors name what is missing: not ELF64 x86-64, no PT_LOAD, no PVH note.
absl::StatusOr<PvhKernel> ParsePvhElf(absl::Span<const uint8_t> image);

struct PvhStartInfoInput {
  uint64_t cmdline_addr;
  uint64_t rsdp_addr;
  uint64_t initrd_addr;  // 0: no module
  uint64_t initrd_size;
  std::vector<E820Entry> memmap;
};

// The page placed at kPvhStartInfoAddr: start info, memory map and module
// list (addresses inside it are absolute).
absl::StatusOr<std::vector<uint8_t>> BuildPvhStartInfo(
    const PvhStartInfoInput& in);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_PVH_H_

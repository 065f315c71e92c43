// Reads kernel-image virtual addresses (text, rodata, data, bss: where the
// kallsyms tables, init_uts_ns and .BTF live) without page tables: the
// image is mapped linearly at __START_KERNEL_map, so
// pa = va - __START_KERNEL_map + phys_base (the kernel's __pa_symbol), with
// phys_base from VMCOREINFO. Enough to bootstrap symbols before any page
// table walk; other addresses need memory::TranslatedMemory.
#ifndef KTVM_BTF_KERNEL_IMAGE_READER_H_
#define KTVM_BTF_KERNEL_IMAGE_READER_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "btf/read_virtual.h"

namespace ktvm::btf {

// x86_64 __START_KERNEL_map.
inline constexpr uint64_t kX86StartKernelMap = 0xffffffff80000000ull;

using ReadPhysicalFn =
    std::function<absl::Status(uint64_t pa, absl::Span<uint8_t> out)>;

// A reader for kernel-image addresses over guest-physical reads.
ReadVirtualFn KernelImageReader(ReadPhysicalFn read_physical,
                                uint64_t phys_base);

// The same over one flat guest-physical buffer starting at gpa 0 (a RAM
// file as QEMU's memory-backend-file writes it).
ReadVirtualFn KernelImageReader(absl::Span<const uint8_t> ram,
                                uint64_t phys_base);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_KERNEL_IMAGE_READER_H_

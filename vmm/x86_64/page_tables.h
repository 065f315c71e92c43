// Identity-mapped page tables for entering the kernel in long mode: the boot
// protocol's 64-bit entry requires paging on with the kernel, boot_params,
// command line and initramfs all identity mapped. ktvm maps the first 4 GiB
// with 2 MiB pages.
#ifndef KTVM_VMM_X86_64_PAGE_TABLES_H_
#define KTVM_VMM_X86_64_PAGE_TABLES_H_

#include <cstdint>
#include <vector>

namespace ktvm::vmm::x86_64 {

// The bytes to place at kPml4Addr: PML4, PDPT and four page directories,
// contiguous (6 pages).
std::vector<uint8_t> BuildIdentityPageTables();

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_PAGE_TABLES_H_

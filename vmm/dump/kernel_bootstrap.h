// Finds the guest kernel from the bzImage and guest-physical memory alone:
// VMCOREINFO (scanned in RAM), kallsyms (decoded from the kernel's own
// tables), BTF (from the bzImage, cached), the KASLR-randomised direct map
// (page_offset_base) and the kernel page tables (VMCOREINFO's init_top_pgt).
// Everything the dump walkers read goes through the GuestKernel this builds.
#ifndef KTVM_VMM_DUMP_KERNEL_BOOTSTRAP_H_
#define KTVM_VMM_DUMP_KERNEL_BOOTSTRAP_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "btf/btf_ptr.h"
#include "btf/kallsyms.h"
#include "btf/type_lookup.h"
#include "btf/vmcoreinfo.h"
#include "memory/guest_memory.h"
#include "memory/kernel_memory.h"
#include "memory/x86_64_translator.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::dump {

// The guest kernel as the dump sees it. Not copyable: the kernel memory
// reader points into the translator and guest memory.
class GuestKernel {
 public:
  GuestKernel(const memory::GuestMemory& memory, btf::Vmcoreinfo info,
              btf::SymbolTable symbols, const struct ::btf* vmlinux_btf,
              uint64_t page_offset_base);
  GuestKernel(const GuestKernel&) = delete;
  GuestKernel& operator=(const GuestKernel&) = delete;

  const btf::Vmcoreinfo& vmcoreinfo() const { return info_; }
  const btf::SymbolTable& symbols() const { return symbols_; }
  const struct ::btf* btf() const { return btf_; }
  const memory::KernelMemory& memory() const { return kernel_memory_; }
  const memory::GuestMemory& physical() const { return physical_; }
  // The kernel's page tables (for walkers that need translations, not
  // just reads).
  const memory::AddressTranslator& translator() const { return translator_; }

  // Address of a kernel symbol; NotFound names it.
  absl::StatusOr<uint64_t> Symbol(std::string_view name) const;
  // Byte offset of "member.path" in struct `struct_name`, through BTF.
  absl::StatusOr<uint64_t> Offset(std::string_view struct_name,
                                  std::string_view member_path) const;
  // One member whose offset a walker needs: `*out` receives the byte offset
  // of `member` (a dotted path) in struct `type`.
  struct FieldOffset {
    uint64_t* out;
    std::string_view type;
    std::string_view member;
  };
  // Resolves every field of a walker's layout in one call; NotFound names
  // the first "type.member" this kernel's BTF lacks.
  absl::Status ResolveOffsets(absl::Span<const FieldOffset> fields) const;
  // For members only some kernel versions have: a missing one stays unset.
  struct OptionalFieldOffset {
    std::optional<uint64_t>* out;
    std::string_view type;
    std::string_view member;
  };
  void ResolveOptionalOffsets(
      absl::Span<const OptionalFieldOffset> fields) const;
  absl::StatusOr<uint64_t> ReadU64(uint64_t va) const;
  absl::StatusOr<uint32_t> ReadU32(uint64_t va) const;
  // Up to `max_len` bytes of a NUL-terminated string; stops at the first
  // unreadable page.
  absl::StatusOr<std::string> ReadCString(uint64_t va, size_t max_len) const;
  // "sym+0x10/0x40", or hex when no symbol covers it.
  std::string Symbolize(uint64_t address) const;
  // Forgets cached page-table walks; call after the guest ran.
  void InvalidateCaches() const { kernel_memory_.InvalidateCache(); }

  void FillLayout(ktvm::report::GuestLayout& layout) const;

 private:
  const memory::GuestMemory& physical_;
  btf::Vmcoreinfo info_;
  btf::SymbolTable symbols_;
  const struct ::btf* btf_;  // owned by the caller of the bootstrap
  uint64_t page_offset_base_;
  memory::X86_64Translator translator_;
  memory::KernelMemory kernel_memory_;
};

struct BootstrapOptions {
  std::string bzimage_path;
  // Where extracted vmlinux BTF is cached; empty: btf/'s default.
  std::string btf_cache_dir;
};

// BTF of the bzImage (cached by hash). Done once, before the guest has
// anything to find, so it does not count against the dump.
absl::StatusOr<btf::BtfPtr> LoadVmlinuxBtf(const BootstrapOptions& options);

// The rest of the bootstrap over live guest memory. Unavailable while the
// kernel has not yet published VMCOREINFO (early boot): retry later.
enum class VmcoreinfoScan {
  // Only where the kernel's own note sits: the start of a page (fast:
  // milliseconds for 512 MiB; what polling uses).
  kPageStarts,
  // Every byte (finds copies anywhere; about a second for 512 MiB).
  kEveryByte,
};

absl::StatusOr<btf::Vmcoreinfo> FindVmcoreinfoInMemory(
    const memory::GuestMemory& memory, VmcoreinfoScan scan);

// `memory` and `vmlinux_btf` must outlive the result.
absl::StatusOr<std::unique_ptr<GuestKernel>> BootstrapGuestKernel(
    const memory::GuestMemory& memory, const struct ::btf* vmlinux_btf,
    VmcoreinfoScan scan = VmcoreinfoScan::kPageStarts);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_KERNEL_BOOTSTRAP_H_

// VMCOREINFO: the kernel's own key=value description of its layout
// (release, page size, KASLR offset, phys_base, page-table root, kallsyms
// tables), found in guest physical memory or a vmcore note.
#ifndef KTVM_BTF_VMCOREINFO_H_
#define KTVM_BTF_VMCOREINFO_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::btf {

struct Vmcoreinfo {
  std::string osrelease;
  uint64_t page_size = 0;
  // KERNELOFFSET: the KASLR slide of the kernel image (0 without KASLR).
  uint64_t kernel_offset = 0;
  std::optional<uint64_t> phys_base;
  std::optional<bool> pgtable_l5_enabled;
  // SYMBOL(name)=hex (runtime, i.e. already slid, virtual addresses).
  std::map<std::string, uint64_t, std::less<>> symbols;
  // OFFSET(struct.member)=dec, SIZE(struct)=dec, NUMBER(name)=dec/hex,
  // LENGTH(name)=dec.
  std::map<std::string, int64_t, std::less<>> offsets;
  std::map<std::string, int64_t, std::less<>> sizes;
  std::map<std::string, int64_t, std::less<>> numbers;
  std::map<std::string, int64_t, std::less<>> lengths;
  // Every other key, verbatim.
  std::map<std::string, std::string, std::less<>> other;
  // Guest-physical address of the note text, when found by scanning.
  uint64_t found_at_gpa = 0;

  std::optional<uint64_t> Symbol(std::string_view name) const;
  // SYMBOL(init_top_pgt), else SYMBOL(swapper_pg_dir).
  std::optional<uint64_t> KernelPageTableRoot() const;
};

// Parses VMCOREINFO text ("KEY=value\n" lines). Requires OSRELEASE and
// PAGESIZE; malformed numbers are errors naming the line.
absl::StatusOr<Vmcoreinfo> ParseVmcoreinfo(std::string_view text);

// Finds the kernel's VMCOREINFO ELF note (name "VMCOREINFO", text starting
// with "OSRELEASE=") in one region of guest-physical memory starting at
// `base_gpa`. NotFoundError when absent.
absl::StatusOr<Vmcoreinfo> FindVmcoreinfo(absl::Span<const uint8_t> region,
                                          uint64_t base_gpa);

// The offset where a VMCOREINFO note's text starts, or nullopt.
std::optional<size_t> FindVmcoreinfoNoteText(absl::Span<const uint8_t> region,
                                             size_t* text_len);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_VMCOREINFO_H_

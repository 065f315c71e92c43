#include "vmm/x86_64/pvh.h"

#include <elf.h>

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/table_writer.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint64_t kModlistOffset = 0xe00;  // inside the start-info page

uint64_t Align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

// Looks for the Xen PHYS32_ENTRY note in one PT_NOTE segment.
bool FindEntryNote(absl::Span<const uint8_t> notes, uint64_t* entry) {
  size_t pos = 0;
  while (pos + sizeof(Elf64_Nhdr) <= notes.size()) {
    Elf64_Nhdr nh;
    std::memcpy(&nh, notes.data() + pos, sizeof(nh));
    const size_t name_at = pos + sizeof(nh);
    const size_t desc_at = name_at + Align4(nh.n_namesz);
    const size_t next = desc_at + Align4(nh.n_descsz);
    if (next > notes.size() || next <= pos) return false;
    if (nh.n_namesz == 4 &&
        std::memcmp(notes.data() + name_at, "Xen", 4) == 0 &&
        nh.n_type == kXenElfNotePhys32Entry &&
        (nh.n_descsz == 4 || nh.n_descsz == 8)) {
      uint64_t value = 0;
      std::memcpy(&value, notes.data() + desc_at, nh.n_descsz);
      *entry = value;
      return true;
    }
    pos = next;
  }
  return false;
}

}  // namespace

bool LooksLikeElf(absl::Span<const uint8_t> image) {
  return image.size() >= 4 && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

absl::StatusOr<PvhKernel> ParsePvhElf(absl::Span<const uint8_t> image) {
  if (image.size() < sizeof(Elf64_Ehdr) || !LooksLikeElf(image)) {
    return absl::InvalidArgumentError("not an ELF file");
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ELF is not 64-bit x86-64 (class %d, machine %d)",
                        eh.e_ident[EI_CLASS], eh.e_machine));
  }
  // Written so that a huge e_phoff cannot wrap the sum around.
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > image.size() ||
      uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) >
          image.size() - eh.e_phoff) {
    return absl::OutOfRangeError("ELF program headers lie outside the file");
  }
  PvhKernel out{};
  bool have_entry = false;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_offset > image.size() ||
        ph.p_filesz > image.size() - ph.p_offset) {
      return absl::OutOfRangeError(absl::StrFormat(
          "ELF segment %d [0x%x +0x%x] lies outside the %d-byte file", i,
          ph.p_offset, ph.p_filesz, image.size()));
    }
    if (ph.p_type == PT_LOAD && ph.p_memsz > 0) {
      if (ph.p_filesz > ph.p_memsz) {
        return absl::InvalidArgumentError(
            absl::StrFormat("ELF segment %d: filesz 0x%x > memsz 0x%x", i,
                            ph.p_filesz, ph.p_memsz));
      }
      if (ph.p_paddr + ph.p_memsz < ph.p_paddr) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "ELF segment %d: [0x%x +0x%x] wraps the address space", i,
            ph.p_paddr, ph.p_memsz));
      }
      out.segments.push_back(
          {ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
      out.end = std::max(out.end, ph.p_paddr + ph.p_memsz);
    } else if (ph.p_type == PT_NOTE && !have_entry) {
      have_entry =
          FindEntryNote(image.subspan(ph.p_offset, ph.p_filesz), &out.entry32);
    }
  }
  if (out.segments.empty()) {
    return absl::InvalidArgumentError("ELF has no PT_LOAD segment");
  }
  if (!have_entry) {
    return absl::InvalidArgumentError(
        "ELF has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build the "
        "kernel with CONFIG_PVH or boot the bzImage");
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> BuildPvhStartInfo(
    const PvhStartInfoInput& in) {
  if (in.memmap.size() > kPvhMemmapMaxEntries) {
    return absl::InvalidArgumentError("PVH memory map has too many entries");
  }
  TableWriter w;
  w.U32(kHvmStartMagic);
  w.U32(1);  // version
  w.U32(0);  // flags
  const bool has_module = in.initrd_size > 0;
  w.U32(has_module ? 1 : 0);
  w.U64(has_module ? kPvhStartInfoAddr + kModlistOffset : 0);
  w.U64(in.cmdline_addr);
  w.U64(in.rsdp_addr);
  w.U64(kPvhMemmapAddr);
  w.U32(static_cast<uint32_t>(in.memmap.size()));
  w.U32(0);
  w.Zeros(kPvhMemmapAddr - kPvhStartInfoAddr - w.size());
  for (const E820Entry& e : in.memmap) {
    w.U64(e.addr);
    w.U64(e.size);
    w.U32(static_cast<uint32_t>(e.type));
    w.U32(0);
  }
  w.Zeros(kModlistOffset - w.size());
  w.U64(in.initrd_addr);
  w.U64(in.initrd_size);
  w.U64(0);  // module command line
  w.U64(0);
  w.Zeros(kPageSize - w.size());
  return std::move(w.bytes());
}

}  // namespace ktvm::vmm::x86_64

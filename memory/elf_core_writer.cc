#include "memory/elf_core_writer.h"

#include <elf.h>

#include <cstring>

namespace ktvm::memory {
namespace {

void Append(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

void Pad(std::vector<uint8_t>& out, size_t align) {
  while (out.size() % align) out.push_back(0);
}

void Put64(std::vector<uint8_t>& d, size_t at, uint64_t v) {
  std::memcpy(d.data() + at, &v, 8);
}
void Put32(std::vector<uint8_t>& d, size_t at, uint32_t v) {
  std::memcpy(d.data() + at, &v, 4);
}

}  // namespace

std::vector<uint8_t> EncodeNotes(const std::vector<CoreNote>& notes) {
  std::vector<uint8_t> out;
  for (const CoreNote& n : notes) {
    const Elf64_Nhdr h{static_cast<Elf64_Word>(n.name.size() + 1),
                       static_cast<Elf64_Word>(n.desc.size()), n.type};
    Append(out, &h, sizeof(h));
    Append(out, n.name.c_str(), n.name.size() + 1);
    Pad(out, 4);
    Append(out, n.desc.data(), n.desc.size());
    Pad(out, 4);
  }
  return out;
}

std::vector<uint8_t> WriteElfCore(const std::vector<uint8_t>& encoded_notes,
                                  const std::vector<CoreSegment>& segments,
                                  uint16_t e_type, uint16_t e_machine) {
  const size_t phnum = 1 + segments.size();
  std::vector<uint8_t> out(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr));
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = e_type;
  eh.e_machine = e_machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = phnum;
  std::memcpy(out.data(), &eh, sizeof(eh));
  std::vector<Elf64_Phdr> ph(phnum);
  ph[0].p_type = PT_NOTE;
  ph[0].p_offset = out.size();
  ph[0].p_filesz = encoded_notes.size();
  ph[0].p_align = 4;
  Append(out, encoded_notes.data(), encoded_notes.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    Pad(out, 4096);
    Elf64_Phdr& p = ph[i + 1];
    p.p_type = PT_LOAD;
    p.p_offset = out.size();
    p.p_paddr = segments[i].paddr;
    p.p_filesz = p.p_memsz = segments[i].bytes.size();
    Append(out, segments[i].bytes.data(), segments[i].bytes.size());
  }
  std::memcpy(out.data() + eh.e_phoff, ph.data(), phnum * sizeof(Elf64_Phdr));
  return out;
}

std::vector<uint8_t> X86PrStatus(uint32_t pid, uint64_t rip, uint64_t rsp) {
  std::vector<uint8_t> d(336, 0);
  Put32(d, 32, pid);
  Put64(d, 112 + 16 * 8, rip);
  Put64(d, 112 + 19 * 8, rsp);
  return d;
}

std::vector<uint8_t> QemuCpuStateNote(uint64_t rip, uint64_t cr3,
                                      uint64_t cr4) {
  std::vector<uint8_t> d(440, 0);
  Put32(d, 0, 1);
  Put32(d, 4, 440);
  Put64(d, 8 + 16 * 8, rip);
  Put64(d, 392 + 24, cr3);
  Put64(d, 392 + 32, cr4);
  return d;
}

}  // namespace ktvm::memory

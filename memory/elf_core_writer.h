// Writes ELF64 cores shaped like kdump's and QEMU's (PT_NOTE first, then
// page-aligned PT_LOADs), for ElfCore tests and fuzz seeds.
#ifndef KTVM_MEMORY_ELF_CORE_WRITER_H_
#define KTVM_MEMORY_ELF_CORE_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ktvm::memory {

struct CoreNote {
  std::string name;
  uint32_t type = 0;
  std::vector<uint8_t> desc;
};

struct CoreSegment {
  uint64_t paddr = 0;
  std::vector<uint8_t> bytes;
};

// Notes with 4-byte padding, as one PT_NOTE's contents.
std::vector<uint8_t> EncodeNotes(const std::vector<CoreNote>& notes);

// `e_type` and `e_machine` default to ET_CORE and EM_X86_64.
std::vector<uint8_t> WriteElfCore(const std::vector<uint8_t>& encoded_notes,
                                  const std::vector<CoreSegment>& segments,
                                  uint16_t e_type = 4, uint16_t e_machine = 62);

// x86_64 struct elf_prstatus (336 bytes) with pid, rip and rsp set.
std::vector<uint8_t> X86PrStatus(uint32_t pid, uint64_t rip, uint64_t rsp);
// QEMUCPUState version 1 (440 bytes) with rip, cr3 and cr4 set.
std::vector<uint8_t> QemuCpuStateNote(uint64_t rip, uint64_t cr3, uint64_t cr4);

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_ELF_CORE_WRITER_H_

#include "memory/elf_core.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

// struct elf_prstatus on x86_64: pr_pid at 32, pr_reg (user_regs_struct,
// 27 words) at 112, 336 bytes in all.
constexpr size_t kPrStatusPidOffset = 32;
constexpr size_t kPrStatusRegsOffset = 112;
constexpr size_t kPrStatusSize = 336;
// QEMUCPUState (QEMU's target/i386/arch_dump.c): version 0 ends after cr[5]
// at 432 bytes; version 1 adds kernel_gs_base.
constexpr size_t kQemuStateV0Size = 432;
constexpr size_t kQemuStateV1Size = 440;

// Owns what libelf reads from; released with the last GuestMemory copy.
struct OpenElf {
  int fd = -1;
  Elf* elf = nullptr;
  ~OpenElf() {
    if (elf != nullptr) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

uint64_t Word(absl::Span<const uint8_t> desc, size_t offset) {
  uint64_t v;
  std::memcpy(&v, desc.data() + offset, 8);
  return v;
}
uint32_t Word32(absl::Span<const uint8_t> desc, size_t offset) {
  uint32_t v;
  std::memcpy(&v, desc.data() + offset, 4);
  return v;
}

absl::StatusOr<PrStatus> ParsePrStatus(absl::Span<const uint8_t> desc,
                                       uint16_t machine) {
  PrStatus out;
  if (desc.size() < kPrStatusPidOffset + 4) {
    return absl::InvalidArgumentError(
        absl::StrFormat("NT_PRSTATUS of %d bytes is too short", desc.size()));
  }
  out.pid = Word32(desc, kPrStatusPidOffset);
  if (machine == EM_AARCH64) {
    // user_pt_regs: x0..x30, sp, pc, pstate.
    if (desc.size() < kPrStatusRegsOffset + 34 * 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("arm64 NT_PRSTATUS of %d bytes, expected %d",
                          desc.size(), kPrStatusRegsOffset + 34 * 8));
    }
    Aarch64GeneralRegisters r;
    for (int i = 0; i < 31; ++i)
      r.x[i] = Word(desc, kPrStatusRegsOffset + 8 * i);
    r.sp = Word(desc, kPrStatusRegsOffset + 8 * 31);
    r.pc = Word(desc, kPrStatusRegsOffset + 8 * 32);
    r.pstate = Word(desc, kPrStatusRegsOffset + 8 * 33);
    out.arm64 = r;
    return out;
  }
  if (machine != EM_X86_64) return out;
  if (desc.size() < kPrStatusSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("x86_64 NT_PRSTATUS of %d bytes, expected %d",
                        desc.size(), kPrStatusSize));
  }
  // user_regs_struct order.
  auto reg = [&](int i) { return Word(desc, kPrStatusRegsOffset + 8 * i); };
  X86GeneralRegisters r;
  r.r15 = reg(0), r.r14 = reg(1), r.r13 = reg(2), r.r12 = reg(3);
  r.rbp = reg(4), r.rbx = reg(5), r.r11 = reg(6), r.r10 = reg(7);
  r.r9 = reg(8), r.r8 = reg(9), r.rax = reg(10), r.rcx = reg(11);
  r.rdx = reg(12), r.rsi = reg(13), r.rdi = reg(14);  // 15 is orig_rax.
  r.rip = reg(16), out.cs = reg(17), r.rflags = reg(18), r.rsp = reg(19);
  out.ss = reg(20), out.fs_base = reg(21), out.gs_base = reg(22);
  out.ds = reg(23), out.es = reg(24), out.fs = reg(25), out.gs = reg(26);
  out.x86 = r;
  return out;
}

absl::StatusOr<QemuCpuState> ParseQemuState(absl::Span<const uint8_t> desc) {
  if (desc.size() < kQemuStateV0Size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QEMU CPU state note of %d bytes, expected at least %d",
                        desc.size(), kQemuStateV0Size));
  }
  QemuCpuState s;
  s.version = Word32(desc, 0);
  auto w = [&](int i) { return Word(desc, 8 + 8 * i); };
  X86GeneralRegisters& r = s.regs;
  r.rax = w(0), r.rbx = w(1), r.rcx = w(2), r.rdx = w(3);
  r.rsi = w(4), r.rdi = w(5), r.rsp = w(6), r.rbp = w(7);
  r.r8 = w(8), r.r9 = w(9), r.r10 = w(10), r.r11 = w(11);
  r.r12 = w(12), r.r13 = w(13), r.r14 = w(14), r.r15 = w(15);
  r.rip = w(16), r.rflags = w(17);
  constexpr size_t kSegments = 8 + 18 * 8;
  QemuCpuState::Segment* segs[] = {&s.cs, &s.ds,  &s.es, &s.fs,  &s.gs,
                                   &s.ss, &s.ldt, &s.tr, &s.gdt, &s.idt};
  for (size_t i = 0; i < std::size(segs); ++i) {
    const size_t at = kSegments + 24 * i;
    segs[i]->selector = Word32(desc, at);
    segs[i]->limit = Word32(desc, at + 4);
    segs[i]->flags = Word32(desc, at + 8);
    segs[i]->base = Word(desc, at + 16);
  }
  const size_t cr = kSegments + 24 * std::size(segs);
  s.cr0 = Word(desc, cr);
  s.cr2 = Word(desc, cr + 16);
  s.cr3 = Word(desc, cr + 24);
  s.cr4 = Word(desc, cr + 32);
  if (s.version >= 1 && desc.size() >= kQemuStateV1Size) {
    s.kernel_gs_base = Word(desc, kQemuStateV0Size);
  }
  return s;
}

struct Segment {
  uint64_t paddr;
  uint64_t offset;
  uint64_t size;
};

}  // namespace

absl::StatusOr<ElfCore> ElfCore::Open(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError("libelf version mismatch");
  }
  auto file = std::make_shared<OpenElf>();
  file->fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0) {
    return absl::NotFoundError(
        absl::StrFormat("cannot open %s: %s", path, std::strerror(errno)));
  }
  file->elf = elf_begin(file->fd, ELF_C_READ_MMAP, nullptr);
  if (file->elf == nullptr || elf_kind(file->elf) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not an ELF file", path));
  }
  Elf* elf = file->elf;
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr || gelf_getclass(elf) != ELFCLASS64 ||
      ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not a little-endian ELF64 file", path));
  }
  if (ehdr.e_type != ET_CORE) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is an ELF file of type %d, not a core (ET_CORE)",
                        path, ehdr.e_type));
  }
  size_t file_size = 0;
  const char* raw = elf_rawfile(elf, &file_size);
  if (raw == nullptr) {
    return absl::InternalError(absl::StrFormat("libelf gave no image of %s: %s",
                                               path, elf_errmsg(-1)));
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: cannot read the program header count: %s", path, elf_errmsg(-1)));
  }

  ElfCore core;
  core.machine_ = ehdr.e_machine;
  std::vector<Segment> loads;
  size_t prstatus_count = 0;
  size_t qemu_count = 0;
  auto cpu = [&core](size_t index) -> ElfCoreCpu& {
    if (core.cpus_.size() <= index) core.cpus_.resize(index + 1);
    return core.cpus_[index];
  };
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: program header %d unreadable: %s", path, i, elf_errmsg(-1)));
    }
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
      return absl::OutOfRangeError(absl::StrFormat(
          "%s: segment %d [0x%x, +0x%x) runs past the end of the file "
          "(0x%x bytes; truncated core?)",
          path, i, ph.p_offset, ph.p_filesz, file_size));
    }
    if (ph.p_type == PT_LOAD) {
      // Bytes beyond p_filesz are not in the file: left unbacked.
      if (ph.p_filesz > 0) {
        loads.push_back({ph.p_paddr, ph.p_offset, ph.p_filesz});
      }
      continue;
    }
    Elf_Data* data =
        elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz,
                             ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
    if (data == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: note segment %d unreadable: %s", path, i, elf_errmsg(-1)));
    }
    // gelf_getnote bounds every note by the segment and always advances.
    size_t offset = 0;
    GElf_Nhdr nhdr;
    size_t name_off, desc_off;
    while (offset < data->d_size) {
      const size_t next =
          gelf_getnote(data, offset, &nhdr, &name_off, &desc_off);
      if (next == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: malformed note at offset 0x%x of note segment %d", path,
            offset, i));
      }
      offset = next;
      const char* base = static_cast<const char*>(data->d_buf);
      std::string_view name(base + name_off, nhdr.n_namesz);
      if (!name.empty() && name.back() == '\0') name.remove_suffix(1);
      const absl::Span<const uint8_t> desc(
          reinterpret_cast<const uint8_t*>(base + desc_off), nhdr.n_descsz);
      if (name == "CORE" && nhdr.n_type == NT_PRSTATUS) {
        absl::StatusOr<PrStatus> st = ParsePrStatus(desc, core.machine_);
        if (!st.ok()) return st.status();
        cpu(prstatus_count++).prstatus = *st;
      } else if (name == "QEMU" && core.machine_ == EM_X86_64) {
        absl::StatusOr<QemuCpuState> st = ParseQemuState(desc);
        if (!st.ok()) return st.status();
        cpu(qemu_count++).qemu = *st;
      } else if (name == "VMCOREINFO") {
        core.vmcoreinfo_.emplace(reinterpret_cast<const char*>(desc.data()),
                                 desc.size());
        // The kernel pads the text with NULs.
        core.vmcoreinfo_->erase(
            std::find(core.vmcoreinfo_->begin(), core.vmcoreinfo_->end(), '\0'),
            core.vmcoreinfo_->end());
      }
    }
  }

  std::sort(loads.begin(), loads.end(), [](const Segment& a, const Segment& b) {
    return a.paddr != b.paddr ? a.paddr < b.paddr : a.size > b.size;
  });
  std::vector<MemoryRegion> regions;
  uint64_t covered_end = 0;  // End of the physical range taken so far.
  bool any = false;
  for (Segment s : loads) {
    const uint64_t end = s.paddr + s.size;
    if (end < s.paddr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: PT_LOAD at physical 0x%x of 0x%x bytes wraps",
                          path, s.paddr, s.size));
    }
    if (any && end <= covered_end) {
      ++core.duplicate_segments_;
      continue;
    }
    if (any && s.paddr < covered_end) {
      const uint64_t skip = covered_end - s.paddr;
      s.paddr += skip;
      s.offset += skip;
      s.size -= skip;
    }
    regions.push_back(
        {.guest_phys = s.paddr,
         .size = s.size,
         .host = reinterpret_cast<const uint8_t*>(raw) + s.offset});
    covered_end = end;
    any = true;
  }
  if (regions.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s has no PT_LOAD segments with file data", path));
  }
  absl::StatusOr<GuestMemory> memory =
      GuestMemory::FromRegions(std::move(regions), file);
  if (!memory.ok()) return memory.status();
  core.memory_ = *std::move(memory);
  return core;
}

}  // namespace ktvm::memory

// An ELF core of a whole machine: a kdump /proc/vmcore copy or QEMU's
// dump-guest-memory output. PT_LOAD segments become guest memory by
// physical address (p_paddr); the notes give per-CPU state and VMCOREINFO.
#ifndef KTVM_MEMORY_ELF_CORE_H_
#define KTVM_MEMORY_ELF_CORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/guest_memory.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {

struct X86GeneralRegisters {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0,
           rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0, rflags = 0;
};

// arm64 struct user_pt_regs.
struct Aarch64GeneralRegisters {
  uint64_t x[31] = {};
  uint64_t sp = 0, pc = 0, pstate = 0;
};

// NT_PRSTATUS ("CORE"): what the kernel (kdump) or QEMU saved per CPU.
struct PrStatus {
  uint32_t pid = 0;
  // The register block's layout is per architecture: one of these is set
  // for EM_X86_64 and EM_AARCH64 cores.
  std::optional<X86GeneralRegisters> x86;
  std::optional<Aarch64GeneralRegisters> arm64;
  // x86_64 only:
  uint64_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  uint64_t fs_base = 0, gs_base = 0;
};

// QEMU's "QEMU" note (QEMUCPUState, x86_64). It carries no EFER: QEMU does
// not save it in this note.
struct QemuCpuState {
  struct Segment {
    uint32_t selector = 0;
    uint32_t limit = 0;
    uint32_t flags = 0;  // QEMU's descriptor flags (DESC_*_MASK bits).
    uint64_t base = 0;
  };
  uint32_t version = 0;
  X86GeneralRegisters regs;
  Segment cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0;
  std::optional<uint64_t> kernel_gs_base;  // Note version >= 1.

  // Paging for this CPU from its CR3 and CR4.LA57.
  X86_64Translator Translator() const {
    return X86_64Translator::FromRegisters(cr3, cr4);
  }
};

// Notes are matched to CPUs by order: the n-th NT_PRSTATUS and the n-th
// QEMU note describe CPU n (how kdump and QEMU write them).
struct ElfCoreCpu {
  std::optional<PrStatus> prstatus;
  std::optional<QemuCpuState> qemu;
};

class ElfCore {
 public:
  // Maps the file read-only. Errors name what is malformed (not an ELF64
  // core, a segment past the end of the file, malformed notes). Where
  // segments overlap physically, the lower-addressed one wins.
  static absl::StatusOr<ElfCore> Open(const std::string& path);

  const GuestMemory& memory() const { return memory_; }
  uint16_t machine() const { return machine_; }  // EM_X86_64, EM_AARCH64...
  absl::Span<const ElfCoreCpu> cpus() const { return cpus_; }
  // The VMCOREINFO note's text (parse with btf::ParseVmcoreinfo).
  const std::optional<std::string>& vmcoreinfo() const { return vmcoreinfo_; }
  // PT_LOADs whose physical range another segment already covers (kdump
  // adds one for the kernel text on top of the RAM segments).
  size_t duplicate_segments() const { return duplicate_segments_; }

 private:
  GuestMemory memory_;
  uint16_t machine_ = 0;
  std::vector<ElfCoreCpu> cpus_;
  std::optional<std::string> vmcoreinfo_;
  size_t duplicate_segments_ = 0;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_ELF_CORE_H_

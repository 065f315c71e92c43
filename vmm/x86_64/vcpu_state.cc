#include "vmm/x86_64/vcpu_state.h"

#include "vmm/x86_64/msrs.h"

namespace ktvm::vmm::x86_64 {
namespace {

void SetSegment(const kvm_segment& seg, ktvm::report::X86Segment* out) {
  out->set_selector(seg.selector);
  out->set_base(seg.base);
  out->set_limit(seg.limit);
  out->set_attributes(VmxSegmentAttributes(seg));
}

}  // namespace

uint32_t VmxSegmentAttributes(const kvm_segment& seg) {
  return (seg.type & 0xf) | (seg.s & 1) << 4 | (seg.dpl & 3) << 5 |
         (seg.present & 1) << 7 | (seg.avl & 1) << 12 | (seg.l & 1) << 13 |
         (seg.db & 1) << 14 | (seg.g & 1) << 15 | (seg.unusable & 1) << 16;
}

ktvm::report::VcpuState ToVcpuState(const VcpuSnapshot& snapshot) {
  ktvm::report::VcpuState state;
  state.set_index(snapshot.vcpu);
  state.set_parked(snapshot.parked);
  state.set_note(snapshot.error);
  if (!snapshot.parked) return state;
  ktvm::report::X86Registers* r = state.mutable_x86_64();
  const kvm_regs& g = snapshot.regs;
  r->set_rax(g.rax);
  r->set_rbx(g.rbx);
  r->set_rcx(g.rcx);
  r->set_rdx(g.rdx);
  r->set_rsi(g.rsi);
  r->set_rdi(g.rdi);
  r->set_rbp(g.rbp);
  r->set_rsp(g.rsp);
  r->set_r8(g.r8);
  r->set_r9(g.r9);
  r->set_r10(g.r10);
  r->set_r11(g.r11);
  r->set_r12(g.r12);
  r->set_r13(g.r13);
  r->set_r14(g.r14);
  r->set_r15(g.r15);
  r->set_rip(g.rip);
  r->set_rflags(g.rflags);
  const kvm_sregs& s = snapshot.sregs;
  SetSegment(s.cs, r->mutable_cs());
  SetSegment(s.ds, r->mutable_ds());
  SetSegment(s.es, r->mutable_es());
  SetSegment(s.fs, r->mutable_fs());
  SetSegment(s.gs, r->mutable_gs());
  SetSegment(s.ss, r->mutable_ss());
  SetSegment(s.tr, r->mutable_tr());
  SetSegment(s.ldt, r->mutable_ldt());
  r->mutable_gdt()->set_base(s.gdt.base);
  r->mutable_gdt()->set_limit(s.gdt.limit);
  r->mutable_idt()->set_base(s.idt.base);
  r->mutable_idt()->set_limit(s.idt.limit);
  r->set_cr0(s.cr0);
  r->set_cr2(s.cr2);
  r->set_cr3(s.cr3);
  r->set_cr4(s.cr4);
  r->set_cr8(s.cr8);
  r->set_efer(s.efer);
  r->set_apic_base(s.apic_base);
  // Segment bases from sregs; the MSR values (when KVM gave them) win, and
  // KERNEL_GS_BASE and LSTAR exist only there.
  r->set_fs_base(s.fs.base);
  r->set_gs_base(s.gs.base);
  bool have_kernel_gs = false, have_lstar = false;
  for (const MsrValue& m : snapshot.msrs) {
    switch (m.index) {
      case kMsrFsBase:
        r->set_fs_base(m.value);
        break;
      case kMsrGsBase:
        r->set_gs_base(m.value);
        break;
      case kMsrKernelGsBase:
        r->set_kernel_gs_base(m.value);
        have_kernel_gs = true;
        break;
      case kMsrLstar:
        r->set_lstar(m.value);
        have_lstar = true;
        break;
      case kMsrEfer:
        r->set_efer(m.value);
        break;
      default:
        break;
    }
  }
  r->set_apic_id(snapshot.vcpu);  // ktvm numbers APIC ids by vCPU index
  if (!have_kernel_gs || !have_lstar) {
    std::string note = state.note();
    if (!note.empty()) note += "; ";
    note += "KERNEL_GS_BASE/LSTAR unavailable (KVM_GET_MSRS failed)";
    state.set_note(note);
  }
  return state;
}

}  // namespace ktvm::vmm::x86_64

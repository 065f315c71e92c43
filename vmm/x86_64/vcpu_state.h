// KVM register state of a parked vCPU as the report's VcpuState.
#ifndef KTVM_VMM_X86_64_VCPU_STATE_H_
#define KTVM_VMM_X86_64_VCPU_STATE_H_

#include "proto/failure_dump.pb.h"
#include "vmm/kvm/vcpu_thread.h"

namespace ktvm::vmm::x86_64 {

// Segment attributes packed as in VMX (see X86Segment.attributes).
uint32_t VmxSegmentAttributes(const kvm_segment& seg);

ktvm::report::VcpuState ToVcpuState(const VcpuSnapshot& snapshot);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_VCPU_STATE_H_

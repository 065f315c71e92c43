// Reads x86_64 vCPU registers through QEMU's gdbstub (GDB remote serial
// protocol over a stream socket). QMP's "info registers" lacks
// KERNEL_GS_BASE and CR8; the gdbstub's i386-64bit register set has them.
// Connecting pauses a running VM, so the backend connects only while frozen.
#ifndef KTVM_VMM_BACKEND_GDB_REGISTERS_H_
#define KTVM_VMM_BACKEND_GDB_REGISTERS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmm/backend/unique_fd.h"

namespace ktvm::backend {

// The registers of QEMU's x86_64 'g' packet that ktvm uses.
struct GdbX86Registers {
  uint64_t gpr[16];  // rax rbx rcx rdx rsi rdi rbp rsp r8..r15
  uint64_t rip;
  uint32_t eflags;
  uint32_t seg[6];  // cs ss ds es fs gs selectors
  uint64_t fs_base;
  uint64_t gs_base;
  uint64_t kernel_gs_base;
  uint64_t cr0, cr2, cr3, cr4, cr8;
  uint64_t efer;
};

// Decodes the hex payload of a 'g' reply (QEMU's x86_64 layout: 16 GPRs,
// rip, eflags, 6 selectors, fs_base, gs_base, k_gs_base, cr0, cr2, cr3,
// cr4, cr8, efer, then FPU/SSE state which is ignored).
absl::StatusOr<GdbX86Registers> DecodeGdbX86Registers(std::string_view hex);

// Frames and checks one packet: "$payload#xx".
std::string GdbFramePacket(std::string_view payload);

class GdbRegisterClient {
 public:
  static absl::StatusOr<GdbRegisterClient> Connect(const std::string& path,
                                                   absl::Duration timeout);
  // gdb thread ids ("1", "2", ...); QEMU numbers them cpu_index + 1.
  absl::StatusOr<std::vector<std::string>> Threads();
  absl::StatusOr<GdbX86Registers> ReadRegisters(std::string_view thread);

 private:
  explicit GdbRegisterClient(UniqueFd fd) : fd_(std::move(fd)) {}
  // Sends `payload`, returns the reply payload; stop replies that QEMU may
  // send unasked are skipped when `skip_stop_replies`.
  absl::StatusOr<std::string> Transact(std::string_view payload,
                                       bool skip_stop_replies = true);
  absl::StatusOr<std::string> ReadPacket(absl::Time deadline);

  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_GDB_REGISTERS_H_

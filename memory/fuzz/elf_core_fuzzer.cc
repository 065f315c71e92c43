// Random bytes as an ELF core file through ElfCore::Open (libelf parsing,
// PT_LOAD bounds, note decoding), then every region, CPU and the
// VMCOREINFO text touched: no crash, no hang, no read outside the file.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "memory/elf_core.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An anonymous in-memory file: no disk traffic per input.
  static const int fd = memfd_create("elf_core_fuzzer", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  absl::StatusOr<ktvm::memory::ElfCore> core =
      ktvm::memory::ElfCore::Open("/proc/self/fd/" + std::to_string(fd));
  if (!core.ok()) return 0;
  uint64_t sum = 0;
  for (const ktvm::memory::MemoryRegion& r : core->memory().regions()) {
    // First and last byte of every region: both must be inside the file.
    sum += r.host[0] + r.host[r.size - 1];
    uint8_t buf[16];
    (void)core->memory().Read(r.guest_phys + r.size - 8, absl::MakeSpan(buf));
  }
  for (const ktvm::memory::ElfCoreCpu& cpu : core->cpus()) {
    if (cpu.qemu.has_value()) {
      (void)cpu.qemu->Translator().Translate(core->memory(),
                                             cpu.qemu->regs.rip);
    }
    if (cpu.prstatus.has_value()) sum += cpu.prstatus->pid;
  }
  if (core->vmcoreinfo().has_value()) sum += core->vmcoreinfo()->size();
  volatile uint64_t sink = sum;
  (void)sink;
  return 0;
}

// A guest kernel for fuzzing the dump walkers: guest-physical memory
// [0, n) is the fuzz input (the rest of its 1 MiB is zero), reached through
// the direct map (VA = kPageOffset + PA) and the kernel image (image offset
// X at physical X); types come from the real test kernel's vmlinux BTF, so
// seeds lay out the structures exactly as a real guest holds them. Every
// kernel symbol a walker looks up sits at a fixed physical address inside
// the input, and the kernel page tables (init_top_pgt) too, so the fuzzer
// also controls what vmalloc-range addresses translate to.
#ifndef KTVM_VMM_FUZZ_FUZZ_GUEST_H_
#define KTVM_VMM_FUZZ_FUZZ_GUEST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "btf/btf_ptr.h"
#include "memory/guest_memory.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump::fuzz {

inline constexpr uint64_t kRamBytes = 1 << 20;
inline constexpr uint64_t kPageOffset = 0xffff888000000000ull;
inline constexpr uint64_t kImageBase = 0xffffffff81000000ull;

// Physical addresses (= image offsets) of the kernel variables.
inline constexpr uint64_t kPrbAddr = 0x100;           // prb (a pointer)
inline constexpr uint64_t kProgIdrAddr = 0x200;       // struct idr
inline constexpr uint64_t kMapIdrAddr = 0x300;        // struct idr
inline constexpr uint64_t kBpfKallsymsAddr = 0x400;   // struct list_head
inline constexpr uint64_t kNrCpuIdsAddr = 0x480;      // unsigned int
inline constexpr uint64_t kPerCpuOffsetAddr = 0x500;  // unsigned long[64]
inline constexpr uint64_t kInitTopPgtAddr = 0x1000;   // PML4 page
// Seeds place their structures from here on.
inline constexpr uint64_t kFirstFreeAddr = 0x2000;

inline uint64_t Va(uint64_t pa) { return kPageOffset + pa; }

class FuzzGuest {
 public:
  // Loads the vmlinux BTF of `bzimage_path` (cached in `btf_cache_dir`, or
  // btf/'s default when empty).
  static absl::StatusOr<std::unique_ptr<FuzzGuest>> Create(
      const std::string& bzimage_path, const std::string& btf_cache_dir);

  // The guest with `input` as its memory (the previous input's bytes are
  // cleared).
  const GuestKernel& Load(absl::Span<const uint8_t> input);

  const GuestKernel& kernel() const { return *kernel_; }
  // For seed writers: RAM to lay structures out in.
  std::vector<uint8_t>& ram() { return ram_; }

 private:
  FuzzGuest() = default;

  btf::BtfPtr btf_;
  std::vector<uint8_t> ram_;
  size_t dirty_ = 0;  // RAM [0, dirty_) may hold a previous input
  memory::GuestMemory memory_;
  std::unique_ptr<GuestKernel> kernel_;
};

// The shared guest of a fuzz binary, set up in LLVMFuzzerInitialize: the
// test kernel's bzImage is found in the runfiles of `argv0` (the libFuzzer
// binary) or of the test (the regression driver). Aborts with a message
// when it cannot be loaded: the walkers cannot be fuzzed without BTF.
FuzzGuest& InitSharedFuzzGuest(const char* argv0);
FuzzGuest& SharedFuzzGuest();

}  // namespace ktvm::dump::fuzz

#endif  // KTVM_VMM_FUZZ_FUZZ_GUEST_H_

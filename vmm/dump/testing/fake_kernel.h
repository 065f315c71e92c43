// Test support: a synthetic guest kernel for the dump walkers. RAM is a
// plain buffer reached through the direct map (VA = kPageOffset + PA);
// kernel-image symbols at image offset X live at physical X; types and
// offsets come from the real test kernel's vmlinux BTF, so the structures a
// test lays out are the ones the walkers read in a real guest.
#ifndef KTVM_VMM_DUMP_TESTING_FAKE_KERNEL_H_
#define KTVM_VMM_DUMP_TESTING_FAKE_KERNEL_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memory/guest_memory.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump::testing {

inline constexpr uint64_t kRamBytes = 4 << 20;
inline constexpr uint64_t kPageOffset = 0xffff888000000000ull;
inline constexpr uint64_t kImageBase = 0xffffffff81000000ull;

// vmlinux BTF of external/kernel/bzImage (cached under TEST_TMPDIR); null
// when the bzImage has none.
const struct ::btf* VmlinuxBtf();

class FakeKernel {
 public:
  // Image symbols: name -> image offset (= physical address).
  explicit FakeKernel(std::vector<std::pair<std::string, uint64_t>> syms);

  std::vector<uint8_t>& ram() { return ram_; }
  static uint64_t Va(uint64_t pa) { return kPageOffset + pa; }
  template <typename T>
  void Put(uint64_t pa, T value) {
    std::memcpy(ram_.data() + pa, &value, sizeof(T));
  }
  void PutBytes(uint64_t pa, std::string_view bytes) {
    std::memcpy(ram_.data() + pa, bytes.data(), bytes.size());
  }

  // Call once, after the symbols and before reading through the result.
  const GuestKernel& Build();

 private:
  std::vector<uint8_t> ram_;
  btf::SymbolTable symbols_;
  memory::GuestMemory memory_;
  std::unique_ptr<GuestKernel> kernel_;
};

// Offset of `member` in `type` through the kernel's BTF; a test failure
// (and 0) when missing.
uint64_t Off(const GuestKernel& k, std::string_view type,
             std::string_view member);

// sizeof(struct `type`) through the kernel's BTF.
uint64_t SizeOf(const GuestKernel& k, std::string_view type);

}  // namespace ktvm::dump::testing

#endif  // KTVM_VMM_DUMP_TESTING_FAKE_KERNEL_H_

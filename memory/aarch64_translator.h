// AArch64 stage-1 translation (EL1&0 regime, VMSAv8-64): parameters from
// TCR_EL1, TTBR0_EL1 for the low half and TTBR1_EL1 for the high half,
// 4 KiB / 16 KiB / 64 KiB granules, walk depth from the VA width, table,
// block and page descriptors at every level the granule allows, and 52-bit
// output addresses with the 64 KiB granule (FEAT_LPA). LPA2 (TCR_EL1.DS)
// is rejected.
#ifndef KTVM_MEMORY_AARCH64_TRANSLATOR_H_
#define KTVM_MEMORY_AARCH64_TRANSLATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "memory/address_translator.h"

namespace ktvm::memory {

class Aarch64Translator : public AddressTranslator {
 public:
  // Errors: InvalidArgument for a reserved granule encoding or a TxSZ out
  // of range, Unimplemented for LPA2.
  static absl::StatusOr<Aarch64Translator> Create(uint64_t tcr_el1,
                                                  uint64_t ttbr0_el1,
                                                  uint64_t ttbr1_el1);

  absl::StatusOr<Translation> Translate(const GuestMemory& memory,
                                        uint64_t va) const override;
  std::string Describe() const override;

  // One half of the address space (TTBR0 or TTBR1).
  struct Half {
    bool enabled = false;   // !TCR.EPDn
    int va_bits = 0;        // 64 - TnSZ
    int granule_shift = 0;  // 12, 14 or 16
    int start_level = 0;    // 0..3
    bool top_byte_ignored = false;
    uint64_t table = 0;  // Physical base of the start-level table.
  };
  const Half& lower() const { return halves_[0]; }
  const Half& upper() const { return halves_[1]; }

 private:
  Aarch64Translator() = default;

  Half halves_[2];
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_AARCH64_TRANSLATOR_H_

// x86_64 long-mode paging: 4-level and 5-level (LA57), 4 KiB / 2 MiB / 1 GiB
// pages.
#ifndef KTVM_MEMORY_X86_64_TRANSLATOR_H_
#define KTVM_MEMORY_X86_64_TRANSLATOR_H_

#include <cstdint>
#include <string>

#include "memory/address_translator.h"

namespace ktvm::memory {

enum class X86PagingMode { kFourLevel, kFiveLevel };

class X86_64Translator : public AddressTranslator {
 public:
  // `cr3` may carry PCID/flag bits; they are stripped.
  X86_64Translator(uint64_t cr3, X86PagingMode mode);
  // Mode from CR4.LA57 (bit 12).
  static X86_64Translator FromRegisters(uint64_t cr3, uint64_t cr4);

  absl::StatusOr<Translation> Translate(const GuestMemory& memory,
                                        uint64_t va) const override;
  std::string Describe() const override;

  uint64_t root() const { return root_; }
  X86PagingMode mode() const { return mode_; }

 private:
  uint64_t root_;
  X86PagingMode mode_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_X86_64_TRANSLATOR_H_

// Guest-virtual to guest-physical translation, one implementation per
// architecture (x86_64_translator.h, aarch64_translator.h). Callers outside
// memory/ only see this interface.
#ifndef KTVM_MEMORY_ADDRESS_TRANSLATOR_H_
#define KTVM_MEMORY_ADDRESS_TRANSLATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "memory/guest_memory.h"

namespace ktvm::memory {

struct Translation {
  uint64_t phys_addr = 0;  // Of the byte at the requested address.
  uint64_t page_size = 0;  // Size of the mapping that holds it.
};

class AddressTranslator {
 public:
  virtual ~AddressTranslator() = default;
  // Walks the page tables in `memory`. Errors say at which level and why
  // (NotFound for a non-present entry, OutOfRange for a table outside guest
  // memory, InvalidArgument for a non-canonical address or reserved bits).
  virtual absl::StatusOr<Translation> Translate(const GuestMemory& memory,
                                                uint64_t va) const = 0;
  // e.g. "x86_64 4-level, root 0x1a0c000".
  virtual std::string Describe() const = 0;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_ADDRESS_TRANSLATOR_H_

// Reading guest-virtual memory. VirtualMemoryReader is what btf/ and sdt/
// consume; TranslatedMemory implements it with a page-table walk per page
// (through a small cache), so ranges that cross pages mapped to scattered
// frames read correctly.
#ifndef KTVM_MEMORY_VIRTUAL_MEMORY_H_
#define KTVM_MEMORY_VIRTUAL_MEMORY_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/address_translator.h"
#include "memory/guest_memory.h"

namespace ktvm::memory {

class VirtualMemoryReader {
 public:
  virtual ~VirtualMemoryReader() = default;
  // All of [va, va + out.size()) or an error naming the first page that
  // could not be read.
  virtual absl::Status ReadVirtual(uint64_t va,
                                   absl::Span<uint8_t> out) const = 0;

  absl::StatusOr<uint64_t> ReadVirtualU64(uint64_t va) const;
  absl::StatusOr<uint32_t> ReadVirtualU32(uint64_t va) const;
};

// Per-page outcome of a best-effort read.
struct PageFailure {
  uint64_t va = 0;  // Page-aligned start of the unreadable page.
  absl::Status status;
};

// VA -> guest-physical address of that byte; what per-page readers plug in.
using PhysicalAddressOf =
    absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t va)>;

// The page-splitting read shared by TranslatedMemory and KernelMemory: each
// 4 KiB piece of [va, va + out.size()) is translated on its own, so ranges
// over scattered frames read correctly. `address_kind` names the address in
// errors ("virtual", "kernel address"). A range that wraps the address space
// is rejected.
absl::Status ReadByPage(const GuestMemory& memory, uint64_t va,
                        absl::Span<uint8_t> out, PhysicalAddressOf phys_of,
                        std::string_view address_kind);
// Best effort: unreadable pages are zero-filled and listed. No wrap check;
// callers that want one do it first.
std::vector<PageFailure> ReadByPageBestEffort(const GuestMemory& memory,
                                              uint64_t va,
                                              absl::Span<uint8_t> out,
                                              PhysicalAddressOf phys_of);

class TranslatedMemory : public VirtualMemoryReader {
 public:
  // Both must outlive this object.
  TranslatedMemory(const GuestMemory& memory,
                   const AddressTranslator& translator);

  absl::Status ReadVirtual(uint64_t va, absl::Span<uint8_t> out) const override;
  // Reads what it can; unreadable pages are zero-filled and listed.
  std::vector<PageFailure> ReadVirtualBestEffort(uint64_t va,
                                                 absl::Span<uint8_t> out) const;
  absl::StatusOr<Translation> Translate(uint64_t va) const;

  // Must be called whenever the guest has run since the last read. The cache
  // makes reads not thread-safe: use one TranslatedMemory per thread.
  void InvalidateCache() const;

  const GuestMemory& memory() const { return memory_; }
  const AddressTranslator& translator() const { return translator_; }

 private:
  absl::StatusOr<uint64_t> PhysicalAddress(uint64_t va) const;

  const GuestMemory& memory_;
  const AddressTranslator& translator_;
  // Small direct-mapped cache of 4 KiB-page translations (implementation
  // detail; see virtual_memory.cc).
  struct CacheEntry {
    uint64_t va_page = ~0ULL;
    uint64_t pa_page = 0;
    uint64_t page_size = 0;  // Of the whole mapping, as the walk reported.
  };
  mutable std::vector<CacheEntry> cache_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_VIRTUAL_MEMORY_H_

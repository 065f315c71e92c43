#include "memory/x86_64_translator.h"

#include <array>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kPresent = 1ULL << 0;
constexpr uint64_t kPageSize = 1ULL << 7;  // PS: this entry maps a page.
// Bits 51:12 hold the next table or the frame. Bits 62:52 are ignored or
// protection keys and bit 63 is NX, none of which affect the address.
constexpr uint64_t kAddressMask = 0x000ffffffffff000ULL;
// CR3 bits 11:0 are PCID (with CR4.PCIDE) or PWT/PCD; bit 63 is the
// "no flush" hint that shows up in saved CR3 values.
constexpr uint64_t kCr3AddressMask = 0x000ffffffffff000ULL;
constexpr uint64_t kCr4La57 = 1ULL << 12;

struct Level {
  const char* name;
  int shift;          // Of the VA bits that index this table.
  bool page_allowed;  // Whether PS=1 maps a page at this level.
};

// From the root down; 4-level walks start at index 1.
constexpr std::array<Level, 5> kLevels = {{
    {"PML5", 48, false},
    {"PML4", 39, false},
    {"PDPT", 30, true},  // 1 GiB pages.
    {"PD", 21, true},    // 2 MiB pages.
    {"PT", 12, false},   // Always a 4 KiB page.
}};

const char* ModeName(X86PagingMode mode) {
  return mode == X86PagingMode::kFiveLevel ? "5-level" : "4-level";
}

}  // namespace

X86_64Translator::X86_64Translator(uint64_t cr3, X86PagingMode mode)
    : root_(cr3 & kCr3AddressMask), mode_(mode) {}

X86_64Translator X86_64Translator::FromRegisters(uint64_t cr3, uint64_t cr4) {
  return X86_64Translator(cr3, (cr4 & kCr4La57) ? X86PagingMode::kFiveLevel
                                                : X86PagingMode::kFourLevel);
}

absl::StatusOr<Translation> X86_64Translator::Translate(
    const GuestMemory& memory, uint64_t va) const {
  const bool five = mode_ == X86PagingMode::kFiveLevel;
  const int va_bits = five ? 57 : 48;
  // Canonical: bits 63..va_bits-1 all equal.
  const int64_t sign_extended =
      static_cast<int64_t>(va << (64 - va_bits)) >> (64 - va_bits);
  if (static_cast<uint64_t>(sign_extended) != va) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "x86_64 %s: 0x%x is not canonical", ModeName(mode_), va));
  }
  uint64_t table = root_;
  // At most five iterations: a table that points back at itself cannot make
  // the walk longer, only make it resolve to the table's own frame.
  for (size_t i = five ? 0 : 1; i < kLevels.size(); ++i) {
    const Level& level = kLevels[i];
    const uint64_t index = (va >> level.shift) & 0x1ff;
    const uint64_t entry_pa = table + index * 8;
    uint64_t entry;
    if (const uint8_t* host = memory.HostPointer(entry_pa, 8)) {
      std::memcpy(&entry, host, 8);
    } else {
      return absl::OutOfRangeError(absl::StrFormat(
          "x86_64 %s walk of 0x%x: %s table at 0x%x (entry 0x%x) is outside "
          "guest memory",
          ModeName(mode_), va, level.name, table, entry_pa));
    }
    if (!(entry & kPresent)) {
      return absl::NotFoundError(absl::StrFormat(
          "x86_64 %s walk of 0x%x: %s entry %d at 0x%x not present (0x%x)",
          ModeName(mode_), va, level.name, index, entry_pa, entry));
    }
    const bool is_last = i + 1 == kLevels.size();
    if (is_last || (entry & kPageSize)) {
      if (!is_last && !level.page_allowed) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "x86_64 %s walk of 0x%x: %s entry %d at 0x%x has the reserved "
            "PS bit set (0x%x)",
            ModeName(mode_), va, level.name, index, entry_pa, entry));
      }
      const uint64_t page_size = 1ULL << level.shift;
      // In 2 MiB and 1 GiB entries bit 12 is PAT and the bits between it
      // and the frame alignment are reserved; the CPU faults on them.
      uint64_t frame_mask = kAddressMask & ~(page_size - 1);
      if (!is_last) {
        const uint64_t reserved =
            kAddressMask & (page_size - 1) & ~(1ULL << 12);
        if (entry & reserved) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "x86_64 %s walk of 0x%x: %s entry %d at 0x%x has reserved "
              "bits 0x%x set in a 0x%x-byte page",
              ModeName(mode_), va, level.name, index, entry_pa,
              entry & reserved, page_size));
        }
      }
      return Translation{
          .phys_addr = (entry & frame_mask) | (va & (page_size - 1)),
          .page_size = page_size,
      };
    }
    table = entry & kAddressMask;
  }
  // Unreachable: the PT level always returns.
  return absl::InternalError("x86_64 walk ran past the last level");
}

std::string X86_64Translator::Describe() const {
  return absl::StrFormat("x86_64 %s, root 0x%x", ModeName(mode_), root_);
}

}  // namespace ktvm::memory

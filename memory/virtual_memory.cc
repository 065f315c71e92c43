#include "memory/virtual_memory.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPageMask = kPage - 1;
// Direct-mapped; a power of two. 256 pages cover 1 MiB, enough for the
// structures a dump walks repeatedly (runqueues, arena pages).
constexpr size_t kCacheEntries = 256;

size_t CacheSlot(uint64_t va_page) {
  return (va_page / kPage) & (kCacheEntries - 1);
}

absl::Status RangeCheck(uint64_t va, size_t len) {
  if (len != 0 && va + (len - 1) < va) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtual read of 0x%x bytes at 0x%x wraps the address space", len, va));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> VirtualMemoryReader::ReadVirtualU64(
    uint64_t va) const {
  uint8_t bytes[8];
  absl::Status status = ReadVirtual(va, absl::MakeSpan(bytes));
  if (!status.ok()) return status;
  uint64_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

absl::StatusOr<uint32_t> VirtualMemoryReader::ReadVirtualU32(
    uint64_t va) const {
  uint8_t bytes[4];
  absl::Status status = ReadVirtual(va, absl::MakeSpan(bytes));
  if (!status.ok()) return status;
  uint32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

TranslatedMemory::TranslatedMemory(const GuestMemory& memory,
                                   const AddressTranslator& translator)
    : memory_(memory), translator_(translator), cache_(kCacheEntries) {}

void TranslatedMemory::InvalidateCache() const {
  std::fill(cache_.begin(), cache_.end(), CacheEntry{});
}

absl::StatusOr<Translation> TranslatedMemory::Translate(uint64_t va) const {
  const uint64_t va_page = va & ~kPageMask;
  CacheEntry& slot = cache_[CacheSlot(va_page)];
  if (slot.va_page == va_page) {
    return Translation{.phys_addr = slot.pa_page | (va & kPageMask),
                       .page_size = slot.page_size};
  }
  absl::StatusOr<Translation> t = translator_.Translate(memory_, va);
  if (!t.ok()) return t.status();
  // Any page size is a whole number of aligned 4 KiB pages, so caching the
  // 4 KiB slice is exact.
  slot.va_page = va_page;
  slot.pa_page = t->phys_addr & ~kPageMask;
  slot.page_size = t->page_size;
  return t;
}

absl::Status ReadByPage(const GuestMemory& memory, uint64_t va,
                        absl::Span<uint8_t> out, PhysicalAddressOf phys_of,
                        std::string_view address_kind) {
  if (absl::Status s = RangeCheck(va, out.size()); !s.ok()) return s;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t cursor = va + done;
    const size_t chunk =
        std::min<uint64_t>(kPage - (cursor & kPageMask), out.size() - done);
    absl::StatusOr<uint64_t> pa = phys_of(cursor);
    absl::Status status =
        pa.ok() ? memory.Read(*pa, out.subspan(done, chunk)) : pa.status();
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrFormat("reading 0x%x bytes at %s 0x%x: page 0x%x: %s",
                          out.size(), address_kind, va, cursor & ~kPageMask,
                          status.message()));
    }
    done += chunk;
  }
  return absl::OkStatus();
}

std::vector<PageFailure> ReadByPageBestEffort(const GuestMemory& memory,
                                              uint64_t va,
                                              absl::Span<uint8_t> out,
                                              PhysicalAddressOf phys_of) {
  std::vector<PageFailure> failures;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t cursor = va + done;  // Wraps like the CPU would.
    const size_t chunk =
        std::min<uint64_t>(kPage - (cursor & kPageMask), out.size() - done);
    absl::Span<uint8_t> piece = out.subspan(done, chunk);
    absl::StatusOr<uint64_t> pa = phys_of(cursor);
    absl::Status status = pa.ok() ? memory.Read(*pa, piece) : pa.status();
    if (!status.ok()) {
      std::fill(piece.begin(), piece.end(), 0);
      failures.push_back({.va = cursor & ~kPageMask, .status = status});
    }
    done += chunk;
  }
  return failures;
}

absl::StatusOr<uint64_t> TranslatedMemory::PhysicalAddress(uint64_t va) const {
  absl::StatusOr<Translation> t = Translate(va);
  if (!t.ok()) return t.status();
  return t->phys_addr;
}

absl::Status TranslatedMemory::ReadVirtual(uint64_t va,
                                           absl::Span<uint8_t> out) const {
  return ReadByPage(
      memory_, va, out, [this](uint64_t v) { return PhysicalAddress(v); },
      "virtual");
}

std::vector<PageFailure> TranslatedMemory::ReadVirtualBestEffort(
    uint64_t va, absl::Span<uint8_t> out) const {
  if (absl::Status s = RangeCheck(va, out.size()); !s.ok()) {
    std::fill(out.begin(), out.end(), 0);
    return {{.va = va & ~kPageMask, .status = s}};
  }
  return ReadByPageBestEffort(
      memory_, va, out, [this](uint64_t v) { return PhysicalAddress(v); });
}

}  // namespace ktvm::memory

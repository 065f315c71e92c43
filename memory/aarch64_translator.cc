#include "memory/aarch64_translator.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kTcrDs = 1ULL << 59;  // LPA2 descriptor format.
constexpr int kTcrIpsShift = 32;
constexpr uint64_t kIps52Bits = 0b110;

// Bits 47:12 of a descriptor or TTBR; the low bits below the granule are
// cleared per granule.
constexpr uint64_t kOutputMask48 = 0x0000fffffffff000ULL;

struct HalfFields {
  int tsz;
  int tg;  // Raw TGn field.
  bool epd;
  bool tbi;
};

// TG0 and TG1 encode the granules differently.
absl::StatusOr<int> GranuleShift(int half, int tg) {
  if (half == 0) {
    switch (tg) {
      case 0b00:
        return 12;
      case 0b01:
        return 16;
      case 0b10:
        return 14;
    }
  } else {
    switch (tg) {
      case 0b10:
        return 12;
      case 0b11:
        return 16;
      case 0b01:
        return 14;
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "TCR_EL1.TG%d = %d is a reserved granule encoding", half, tg));
}

const char* GranuleName(int shift) {
  return shift == 12 ? "4K" : shift == 14 ? "16K" : "64K";
}

// Output-address bits of a table/block/page descriptor at `shift` alignment
// (52-bit with the 64 KiB granule: OA[51:48] sit in descriptor bits 15:12).
uint64_t OutputAddress(uint64_t desc, int granule_shift, int align_shift) {
  uint64_t oa = desc & kOutputMask48 & ~((1ULL << align_shift) - 1);
  if (granule_shift == 16) oa |= ((desc >> 12) & 0xf) << 48;
  return oa;
}

}  // namespace

absl::StatusOr<Aarch64Translator> Aarch64Translator::Create(
    uint64_t tcr_el1, uint64_t ttbr0_el1, uint64_t ttbr1_el1) {
  if (tcr_el1 & kTcrDs) {
    return absl::UnimplementedError(
        "TCR_EL1.DS=1 (LPA2, 52-bit addresses with 4K/16K granules) is not "
        "supported");
  }
  const HalfFields fields[2] = {
      {static_cast<int>(tcr_el1 & 0x3f), static_cast<int>((tcr_el1 >> 14) & 3),
       ((tcr_el1 >> 7) & 1) != 0, ((tcr_el1 >> 37) & 1) != 0},
      {static_cast<int>((tcr_el1 >> 16) & 0x3f),
       static_cast<int>((tcr_el1 >> 30) & 3), ((tcr_el1 >> 23) & 1) != 0,
       ((tcr_el1 >> 38) & 1) != 0},
  };
  const bool pa52 = ((tcr_el1 >> kTcrIpsShift) & 7) == kIps52Bits;
  const uint64_t ttbrs[2] = {ttbr0_el1, ttbr1_el1};
  Aarch64Translator t;
  for (int i = 0; i < 2; ++i) {
    const HalfFields& f = fields[i];
    Half& h = t.halves_[i];
    absl::StatusOr<int> shift = GranuleShift(i, f.tg);
    if (!shift.ok()) return shift.status();
    // 52-bit VAs (TnSZ down to 12) exist only with the 64K granule
    // (FEAT_LVA); the upper bound is the architecture's without FEAT_TTST.
    const int min_tsz = *shift == 16 ? 12 : 16;
    if (f.tsz < min_tsz || f.tsz > 39) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "TCR_EL1.T%dSZ = %d is outside %d..39 for the %s granule", i, f.tsz,
          min_tsz, GranuleName(*shift)));
    }
    h.enabled = !f.epd;
    h.va_bits = 64 - f.tsz;
    h.granule_shift = *shift;
    h.top_byte_ignored = f.tbi;
    const int stride = *shift - 3;
    const int levels = (h.va_bits - *shift + stride - 1) / stride;
    h.start_level = 4 - levels;
    // TTBR: ASID in 63:48, CnP in bit 0; with 52-bit PAs and the 64K
    // granule, BADDR[51:48] is in bits 5:2.
    uint64_t base = ttbrs[i] & 0x0000fffffffffffeULL;
    if (pa52 && *shift == 16) {
      base =
          (ttbrs[i] & 0x0000ffffffffffc0ULL) | (((ttbrs[i] >> 2) & 0xf) << 48);
    }
    h.table = base;
  }
  return t;
}

absl::StatusOr<Translation> Aarch64Translator::Translate(
    const GuestMemory& memory, uint64_t va) const {
  const int which = (va >> 55) & 1;
  const Half& h = halves_[which];
  // With TBI the top byte is a tag; the address is bits 55:0 sign-extended.
  uint64_t checked = va;
  if (h.top_byte_ignored) {
    checked =
        which ? (va | 0xff00000000000000ULL) : (va & 0x00ffffffffffffffULL);
  }
  const uint64_t upper_bits = h.va_bits == 64 ? 0 : checked >> h.va_bits;
  const uint64_t expected = which ? (~0ULL >> h.va_bits) : 0;
  if (upper_bits != expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("aarch64: 0x%x is outside the %d-bit TTBR%d range", va,
                        h.va_bits, which));
  }
  if (!h.enabled) {
    return absl::NotFoundError(absl::StrFormat(
        "aarch64: walks through TTBR%d are disabled (TCR_EL1.EPD%d) for 0x%x",
        which, which, va));
  }
  const int stride = h.granule_shift - 3;
  uint64_t table = h.table;
  // Bounded: at most four levels whatever the descriptors say.
  for (int level = h.start_level; level <= 3; ++level) {
    const int shift = h.granule_shift + stride * (3 - level);
    const int index_bits = level == h.start_level ? h.va_bits - shift : stride;
    const uint64_t index = (checked >> shift) & ((1ULL << index_bits) - 1);
    const uint64_t entry_pa = table + index * 8;
    const uint8_t* host = memory.HostPointer(entry_pa, 8);
    if (host == nullptr) {
      return absl::OutOfRangeError(absl::StrFormat(
          "aarch64 %s walk of 0x%x: level %d table at 0x%x (entry 0x%x) is "
          "outside guest memory",
          GranuleName(h.granule_shift), va, level, table, entry_pa));
    }
    uint64_t desc;
    std::memcpy(&desc, host, 8);
    if (!(desc & 1)) {
      return absl::NotFoundError(absl::StrFormat(
          "aarch64 %s walk of 0x%x: level %d descriptor %d at 0x%x is invalid "
          "(0x%x)",
          GranuleName(h.granule_shift), va, level, index, entry_pa, desc));
    }
    const bool table_or_page = (desc & 2) != 0;
    if (level == 3) {
      if (!table_or_page) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "aarch64 walk of 0x%x: level 3 descriptor at 0x%x has the "
            "reserved encoding 0b01 (0x%x)",
            va, entry_pa, desc));
      }
    } else if (table_or_page) {
      table = OutputAddress(desc, h.granule_shift, h.granule_shift);
      continue;
    } else {
      // Blocks: 4K at levels 1-2, 16K at level 2, 64K at levels 1-2 (level
      // 1 needs FEAT_LPA); level 0 blocks exist only with LPA2.
      const bool allowed = level == 2 || (level == 1 && h.granule_shift != 14);
      if (!allowed) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "aarch64 %s walk of 0x%x: block descriptor at level %d (0x%x at "
            "0x%x) is not allowed for this granule",
            GranuleName(h.granule_shift), va, level, desc, entry_pa));
      }
    }
    const uint64_t size = 1ULL << shift;
    return Translation{
        .phys_addr = OutputAddress(desc, h.granule_shift, shift) |
                     (checked & (size - 1)),
        .page_size = size,
    };
  }
  return absl::InternalError("aarch64 walk ran past level 3");
}

std::string Aarch64Translator::Describe() const {
  auto half = [](const Half& h) {
    if (!h.enabled) return std::string("disabled");
    return absl::StrFormat("%s granule, %d-bit VA, start level %d, table 0x%x",
                           GranuleName(h.granule_shift), h.va_bits,
                           h.start_level, h.table);
  };
  return absl::StrFormat("aarch64 TTBR0: %s; TTBR1: %s", half(halves_[0]),
                         half(halves_[1]));
}

}  // namespace ktvm::memory

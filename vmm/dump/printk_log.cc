#include "vmm/dump/printk_log.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"

namespace ktvm::dump {
namespace {

// kernel/printk/printk_ringbuffer.h: the top two bits of a descriptor's
// state_var are its state, the rest its id.
constexpr int kStateShift = 62;
constexpr uint64_t kIdMask = ~(3ULL << kStateShift);
constexpr uint64_t kStateCommitted = 1;
constexpr uint64_t kStateFinalized = 2;
// Far above any real log (CONFIG_LOG_BUF_SHIFT <= 25): larger means the
// ring header is corrupt.
constexpr unsigned kMaxCountBits = 22;
constexpr unsigned kMaxDataBits = 26;

template <typename T>
T Load(const std::vector<uint8_t>& bytes, size_t offset) {
  T value{};
  if (offset + sizeof(T) <= bytes.size()) {
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
  }
  return value;
}

struct Layout {
  uint64_t desc_count_bits, desc_descs, desc_infos;
  uint64_t data_size_bits, data_data;
  uint64_t desc_size, state_var, lpos_begin, lpos_next;
  uint64_t info_size, seq, ts_nsec, text_len, facility, caller_id;
  btf::MemberLocation level;
};

absl::StatusOr<Layout> ResolveLayout(const GuestKernel& k) {
  Layout l{};
  if (absl::Status s = k.ResolveOffsets({
          {&l.desc_count_bits, "printk_ringbuffer", "desc_ring.count_bits"},
          {&l.desc_descs, "printk_ringbuffer", "desc_ring.descs"},
          {&l.desc_infos, "printk_ringbuffer", "desc_ring.infos"},
          {&l.data_size_bits, "printk_ringbuffer", "text_data_ring.size_bits"},
          {&l.data_data, "printk_ringbuffer", "text_data_ring.data"},
          {&l.state_var, "prb_desc", "state_var"},
          {&l.lpos_begin, "prb_desc", "text_blk_lpos.begin"},
          {&l.lpos_next, "prb_desc", "text_blk_lpos.next"},
          {&l.seq, "printk_info", "seq"},
          {&l.ts_nsec, "printk_info", "ts_nsec"},
          {&l.text_len, "printk_info", "text_len"},
          {&l.facility, "printk_info", "facility"},
          {&l.caller_id, "printk_info", "caller_id"},
      });
      !s.ok()) {
    return s;
  }
  for (auto [out, name] : {std::pair{&l.desc_size, "prb_desc"},
                           std::pair{&l.info_size, "printk_info"}}) {
    absl::StatusOr<uint32_t> id = btf::RequireFullStruct(k.btf(), name);
    if (!id.ok()) return id.status();
    absl::StatusOr<uint64_t> size = btf::TypeSize(k.btf(), *id);
    if (!size.ok()) return size.status();
    *out = *size;
  }
  absl::StatusOr<uint32_t> info_id =
      btf::RequireFullStruct(k.btf(), "printk_info");
  if (!info_id.ok()) return info_id.status();
  absl::StatusOr<btf::MemberLocation> level =
      btf::MemberOffset(k.btf(), *info_id, "level");
  if (!level.ok()) return level.status();
  l.level = *level;
  return l;
}

absl::StatusOr<std::vector<uint8_t>> ReadBlock(const GuestKernel& k,
                                               uint64_t va, uint64_t size) {
  // A corrupt header can ask for hundreds of MiB: only allocate once the
  // block's last byte is readable (printk_log_fuzzer ran at 100 inputs/s
  // without this).
  if (size > 0) {
    uint8_t last = 0;
    if (absl::Status s =
            k.memory().ReadVirtual(va + size - 1, absl::MakeSpan(&last, 1));
        !s.ok()) {
      return s;
    }
  }
  std::vector<uint8_t> bytes(size);
  if (absl::Status s = k.memory().ReadVirtual(va, absl::MakeSpan(bytes));
      !s.ok()) {
    return s;
  }
  return bytes;
}

}  // namespace

absl::StatusOr<ktvm::report::KernelLog> ReadPrintkLog(const GuestKernel& k,
                                                      size_t max_records) {
  absl::StatusOr<Layout> layout = ResolveLayout(k);
  if (!layout.ok()) return layout.status();
  const Layout& l = *layout;
  absl::StatusOr<uint64_t> prb_symbol = k.Symbol("prb");
  if (!prb_symbol.ok()) return prb_symbol.status();
  absl::StatusOr<uint64_t> prb = k.ReadU64(*prb_symbol);
  if (!prb.ok()) return prb.status();
  absl::StatusOr<std::vector<uint8_t>> header =
      ReadBlock(k, *prb, l.data_data + 8);
  if (!header.ok()) return header.status();
  const uint32_t count_bits = Load<uint32_t>(*header, l.desc_count_bits);
  const uint32_t data_bits = Load<uint32_t>(*header, l.data_size_bits);
  if (count_bits == 0 || count_bits > kMaxCountBits || data_bits == 0 ||
      data_bits > kMaxDataBits) {
    return absl::DataLossError(absl::StrFormat(
        "printk ring buffer header is implausible (count_bits %d, "
        "size_bits %d)",
        count_bits, data_bits));
  }
  const uint64_t count = 1ULL << count_bits;
  const uint64_t data_size = 1ULL << data_bits;
  absl::StatusOr<std::vector<uint8_t>> descs =
      ReadBlock(k, Load<uint64_t>(*header, l.desc_descs), count * l.desc_size);
  if (!descs.ok()) return descs.status();
  absl::StatusOr<std::vector<uint8_t>> infos =
      ReadBlock(k, Load<uint64_t>(*header, l.desc_infos), count * l.info_size);
  if (!infos.ok()) return infos.status();
  absl::StatusOr<std::vector<uint8_t>> data =
      ReadBlock(k, Load<uint64_t>(*header, l.data_data), data_size);
  if (!data.ok()) return data.status();

  struct Candidate {
    uint64_t seq;
    uint64_t index;
  };
  std::vector<Candidate> candidates;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t state_var =
        Load<uint64_t>(*descs, i * l.desc_size + l.state_var);
    const uint64_t state = state_var >> kStateShift;
    if (state != kStateCommitted && state != kStateFinalized) continue;
    // A descriptor's id maps to its slot; anything else is torn.
    if (((state_var & kIdMask) & (count - 1)) != i) continue;
    candidates.push_back({Load<uint64_t>(*infos, i * l.info_size + l.seq), i});
  }
  std::sort(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.seq < b.seq; });
  ktvm::report::KernelLog log;
  log.set_source("printk_ringbuffer");
  // Newest first, so torn records do not eat into the tail; reversed below.
  for (size_t c = candidates.size(); c-- > 0;) {
    if (static_cast<size_t>(log.records_size()) >= max_records) {
      log.set_dropped(log.dropped() + c + 1);
      break;
    }
    const uint64_t i = candidates[c].index;
    const size_t desc = i * l.desc_size;
    const size_t info = i * l.info_size;
    const uint64_t id = Load<uint64_t>(*descs, desc + l.state_var) & kIdMask;
    const uint64_t begin = Load<uint64_t>(*descs, desc + l.lpos_begin);
    const uint64_t next = Load<uint64_t>(*descs, desc + l.lpos_next);
    uint64_t block = 0, block_len = 0;
    if ((begin & 1) != 0 || begin == next) {
      block_len = 0;  // data-less record (e.g. an empty line or a failure)
    } else if ((begin >> data_bits) == (next >> data_bits)) {
      block = begin & (data_size - 1);
      block_len = next - begin;
    } else if (((begin + data_size) >> data_bits) == (next >> data_bits)) {
      block = 0;  // the record wrapped to the start of the data ring
      block_len = next & (data_size - 1);
    } else {
      log.set_dropped(log.dropped() + 1);
      continue;
    }
    std::string text;
    if (block_len >= 8) {
      // Not block + block_len: a torn next below begin makes block_len
      // wrap, and the sum with it.
      if (block_len > data_size - block || Load<uint64_t>(*data, block) != id) {
        log.set_dropped(log.dropped() + 1);
        continue;
      }
      const uint64_t text_len = std::min<uint64_t>(
          Load<uint16_t>(*infos, info + l.text_len), block_len - 8);
      text.assign(reinterpret_cast<const char*>(data->data() + block + 8),
                  text_len);
    }
    ktvm::report::KernelLogRecord* record = log.add_records();
    record->set_sequence(candidates[c].seq);
    record->set_timestamp_ns(Load<uint64_t>(*infos, info + l.ts_nsec));
    record->set_facility(Load<uint8_t>(*infos, info + l.facility));
    record->set_caller_id(Load<uint32_t>(*infos, info + l.caller_id));
    const uint8_t level_byte =
        Load<uint8_t>(*infos, info + l.level.byte_offset);
    const uint32_t level_shift = l.level.bit_offset % 8;
    record->set_level(
        (level_byte >> level_shift) &
        ((1u << std::max<uint32_t>(l.level.bitfield_size, 1)) - 1));
    record->set_text(std::move(text));
  }
  std::reverse(log.mutable_records()->begin(), log.mutable_records()->end());
  return log;
}

}  // namespace ktvm::dump

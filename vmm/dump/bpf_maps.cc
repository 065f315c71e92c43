#include "vmm/dump/bpf_maps.h"

#include <bpf/btf.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "btf/btf_source.h"
#include "btf/value_renderer.h"
#include "vmm/dump/map_idr.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::BpfMap;
using ::ktvm::report::Diagnostic;
using ::ktvm::report::RenderedValue;

// A program's BTF is a few KiB to a few MiB; larger means a torn struct btf.
constexpr uint32_t kMaxProgramBtfBytes = 64 << 20;
// Bucket chains longer than this are a cycle or garbage.
constexpr size_t kMaxChainLength = 4096;
// Bucket heads plus elements read for one hash table. The chain cap alone
// allows n_buckets * 4096 reads: every bucket of a torn table pointing into
// one cycle would keep a large guest's dump busy for hours. A real table of
// half a million elements takes about a million.
constexpr uint64_t kMaxHashSteps = 1 << 20;

struct Offsets {
  uint64_t map_type, key_size, value_size, max_entries, map_flags, id, name;
  uint64_t btf, btf_key_type_id, btf_value_type_id;
  uint64_t btf_data, btf_data_size, btf_base;
  uint64_t array_value, array_elem_size;
  uint64_t htab_buckets, htab_n_buckets, bucket_size, elem_key;
  uint64_t qs_head, qs_tail, qs_size, qs_elements;
};

absl::StatusOr<Offsets> ResolveOffsets(const GuestKernel& k) {
  Offsets o{};
  if (absl::Status s = k.ResolveOffsets({
          {&o.map_type, "bpf_map", "map_type"},
          {&o.key_size, "bpf_map", "key_size"},
          {&o.value_size, "bpf_map", "value_size"},
          {&o.max_entries, "bpf_map", "max_entries"},
          {&o.map_flags, "bpf_map", "map_flags"},
          {&o.id, "bpf_map", "id"},
          {&o.name, "bpf_map", "name"},
          {&o.btf, "bpf_map", "btf"},
          {&o.btf_key_type_id, "bpf_map", "btf_key_type_id"},
          {&o.btf_value_type_id, "bpf_map", "btf_value_type_id"},
          {&o.btf_data, "btf", "data"},
          {&o.btf_data_size, "btf", "data_size"},
          {&o.btf_base, "btf", "base_btf"},
          {&o.array_value, "bpf_array", "value"},
          {&o.array_elem_size, "bpf_array", "elem_size"},
          {&o.htab_buckets, "bpf_htab", "buckets"},
          {&o.htab_n_buckets, "bpf_htab", "n_buckets"},
          {&o.elem_key, "htab_elem", "key"},
          {&o.qs_head, "bpf_queue_stack", "head"},
          {&o.qs_tail, "bpf_queue_stack", "tail"},
          {&o.qs_size, "bpf_queue_stack", "size"},
          {&o.qs_elements, "bpf_queue_stack", "elements"},
      });
      !s.ok()) {
    return s;
  }
  absl::StatusOr<uint32_t> bucket = btf::RequireFullStruct(k.btf(), "bucket");
  if (!bucket.ok()) return bucket.status();
  absl::StatusOr<uint64_t> bucket_size = btf::TypeSize(k.btf(), *bucket);
  if (!bucket_size.ok()) return bucket_size.status();
  o.bucket_size = *bucket_size;
  return o;
}

Diagnostic Problem(std::string subject, const absl::Status& status) {
  Diagnostic d;
  d.set_subject(std::move(subject));
  d.set_reason(std::string(status.message()));
  d.set_severity(Diagnostic::SEVERITY_WARNING);
  return d;
}

class MapReader {
 public:
  MapReader(const GuestKernel& k, const Offsets& o, const BpfMapLimits& limits,
            std::vector<Diagnostic>& diagnostics)
      : k_(k), o_(o), limits_(limits), diagnostics_(diagnostics) {
    render_.memory = &k.memory();
    render_.max_pointer_depth = 1;
  }

  absl::StatusOr<BpfMap> Read(uint64_t map) {
    BpfMap out;
    out.set_kernel_address(map);
    absl::StatusOr<uint32_t> type = k_.ReadU32(map + o_.map_type);
    if (!type.ok()) return type.status();
    out.set_type_value(static_cast<int32_t>(*type));
    if (ktvm::report::BpfMapType_IsValid(*type)) {
      out.set_type(static_cast<ktvm::report::BpfMapType>(*type));
    }
    for (auto [field, offset] :
         {std::pair{&BpfMap::set_key_size, o_.key_size},
          std::pair{&BpfMap::set_value_size, o_.value_size},
          std::pair{&BpfMap::set_max_entries, o_.max_entries},
          std::pair{&BpfMap::set_map_flags, o_.map_flags},
          std::pair{&BpfMap::set_id, o_.id},
          std::pair{&BpfMap::set_btf_value_type_id, o_.btf_value_type_id}}) {
      absl::StatusOr<uint32_t> v = k_.ReadU32(map + offset);
      if (!v.ok()) return v.status();
      (out.*field)(*v);
    }
    absl::StatusOr<std::string> name = k_.ReadCString(map + o_.name, 16);
    if (name.ok()) out.set_name(*name);
    const struct ::btf* btf = ProgramBtf(map, out);
    absl::StatusOr<uint32_t> key_type = k_.ReadU32(map + o_.btf_key_type_id);
    const uint32_t key_type_id = key_type.ok() ? *key_type : 0;
    switch (out.type()) {
      case ktvm::report::BPF_MAP_TYPE_ARRAY:
        ReadArray(map, btf, out, /*percpu=*/false);
        break;
      case ktvm::report::BPF_MAP_TYPE_PERCPU_ARRAY:
        ReadArray(map, btf, out, /*percpu=*/true);
        break;
      case ktvm::report::BPF_MAP_TYPE_HASH:
      case ktvm::report::BPF_MAP_TYPE_LRU_HASH:
        ReadHash(map, btf, key_type_id, out, /*percpu=*/false);
        break;
      case ktvm::report::BPF_MAP_TYPE_PERCPU_HASH:
      case ktvm::report::BPF_MAP_TYPE_LRU_PERCPU_HASH:
        ReadHash(map, btf, key_type_id, out, /*percpu=*/true);
        break;
      case ktvm::report::BPF_MAP_TYPE_QUEUE:
      case ktvm::report::BPF_MAP_TYPE_STACK:
        ReadQueueStack(map, btf, out);
        break;
      default:
        out.set_note("values of this map type are not captured");
        break;
    }
    return out;
  }

 private:
  // The map's BTF (the loading program's), parsed once per struct btf.
  const struct ::btf* ProgramBtf(uint64_t map, BpfMap& out) {
    absl::StatusOr<uint64_t> btf_va = k_.ReadU64(map + o_.btf);
    if (!btf_va.ok() || *btf_va == 0) return nullptr;
    auto it = program_btf_.find(*btf_va);
    if (it != program_btf_.end()) return it->second.get();
    btf::BtfPtr parsed;
    absl::StatusOr<uint64_t> data = k_.ReadU64(*btf_va + o_.btf_data);
    absl::StatusOr<uint32_t> size = k_.ReadU32(*btf_va + o_.btf_data_size);
    absl::StatusOr<uint64_t> base = k_.ReadU64(*btf_va + o_.btf_base);
    absl::Status status = data.status();
    if (status.ok()) status = size.status();
    if (status.ok()) status = base.status();
    if (status.ok() && (*size == 0 || *size > kMaxProgramBtfBytes)) {
      status = absl::DataLossError(
          absl::StrFormat("struct btf data_size %d is implausible", *size));
    }
    if (status.ok()) {
      std::vector<uint8_t> raw(*size);
      status = k_.memory().ReadVirtual(*data, absl::MakeSpan(raw));
      if (status.ok()) {
        // A program's BTF is standalone; module BTF is split over vmlinux
        // (libbpf takes the base non-const but does not modify it).
        absl::StatusOr<btf::BtfPtr> b =
            *base == 0 ? btf::BtfFromRawBytes(raw)
                       : btf::SplitBtfFromRawBytes(
                             raw, const_cast<struct ::btf*>(k_.btf()));
        if (b.ok()) {
          parsed = *std::move(b);
        } else {
          status = b.status();
        }
      }
    }
    if (!status.ok()) {
      diagnostics_.push_back(
          Problem(absl::StrFormat("bpf_maps[%s].btf", out.name()), status));
    }
    return (program_btf_[*btf_va] = std::move(parsed)).get();
  }

  RenderedValue Render(const struct ::btf* btf, uint32_t type_id,
                       absl::Span<const uint8_t> bytes) {
    if (btf == nullptr || type_id == 0) {
      RenderedValue raw;
      raw.set_bytes_value(bytes.data(), bytes.size());
      return raw;
    }
    return btf::RenderValue(btf, type_id, bytes, render_);
  }

  absl::StatusOr<std::vector<uint8_t>> ReadValue(uint64_t va, uint64_t size) {
    if (size > limits_.max_value_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("value of %d bytes is above the %d-byte cap", size,
                          limits_.max_value_bytes));
    }
    std::vector<uint8_t> bytes(size);
    if (absl::Status s = k_.memory().ReadVirtual(va, absl::MakeSpan(bytes));
        !s.ok()) {
      return s;
    }
    return bytes;
  }

  void ReadArray(uint64_t map, const struct ::btf* btf, BpfMap& out,
                 bool percpu) {
    absl::StatusOr<uint32_t> elem_size = k_.ReadU32(map + o_.array_elem_size);
    if (!elem_size.ok()) {
      out.set_note(std::string(elem_size.status().message()));
      return;
    }
    const uint64_t count =
        std::min<uint64_t>(out.max_entries(), limits_.max_entries);
    out.set_entries_omitted(out.max_entries() - count);
    std::vector<uint64_t> cpu_offsets;
    if (percpu) cpu_offsets = PerCpuOffsets();
    for (uint64_t i = 0; i < count; ++i) {
      ktvm::report::BpfMapEntry* entry = out.add_entries();
      RenderedValue key;
      key.set_uint_value(i);
      *entry->mutable_key() = key;
      if (!percpu) {
        absl::StatusOr<std::vector<uint8_t>> value =
            ReadValue(map + o_.array_value + i * *elem_size, out.value_size());
        if (!value.ok()) {
          out.set_note(
              absl::StrFormat("entry %d: %s", i, value.status().message()));
          break;
        }
        *entry->mutable_value() = Render(btf, out.btf_value_type_id(), *value);
        KeepIfDatasec(map, btf, out.btf_value_type_id(), *value);
        continue;
      }
      absl::StatusOr<uint64_t> pptr = k_.ReadU64(map + o_.array_value + 8 * i);
      if (!pptr.ok()) {
        out.set_note(std::string(pptr.status().message()));
        break;
      }
      for (uint64_t cpu_offset : cpu_offsets) {
        absl::StatusOr<std::vector<uint8_t>> value =
            ReadValue(*pptr + cpu_offset, out.value_size());
        if (!value.ok()) {
          *entry->add_percpu_values() = RenderedValue();
          continue;
        }
        *entry->add_percpu_values() =
            Render(btf, out.btf_value_type_id(), *value);
      }
    }
  }

  void ReadHash(uint64_t map, const struct ::btf* btf, uint32_t key_type_id,
                BpfMap& out, bool percpu) {
    absl::StatusOr<uint64_t> buckets = k_.ReadU64(map + o_.htab_buckets);
    absl::StatusOr<uint32_t> n_buckets = k_.ReadU32(map + o_.htab_n_buckets);
    if (!buckets.ok() || !n_buckets.ok()) {
      out.set_note("hash table header unreadable");
      return;
    }
    // n_buckets is a power of two no larger than max_entries rounded up.
    if (*n_buckets == 0 || (*n_buckets & (*n_buckets - 1)) != 0 ||
        *n_buckets > 2 * std::max<uint64_t>(out.max_entries(), 1)) {
      out.set_note(absl::StrFormat("n_buckets %d is implausible", *n_buckets));
      return;
    }
    // The value (or, per-CPU, the pointer to the per-CPU values) follows
    // the key rounded up to 8 bytes (hashtab.c; per-CPU since 6.14: older
    // kernels put the pointer right after an unaligned key).
    const uint64_t value_offset = o_.elem_key + ((out.key_size() + 7) & ~7ULL);
    std::vector<uint64_t> cpu_offsets;
    if (percpu) cpu_offsets = PerCpuOffsets();
    uint64_t found = 0, torn = 0, torn_values = 0, steps = 0;
    for (uint32_t b = 0; b < *n_buckets; ++b) {
      if (++steps > kMaxHashSteps) {
        out.set_note(absl::StrFormat(
            "walk stopped at bucket %d of %d after %d reads (cycles or a "
            "torn table)",
            b, *n_buckets, kMaxHashSteps));
        break;
      }
      absl::StatusOr<uint64_t> node = k_.ReadU64(*buckets + b * o_.bucket_size);
      if (!node.ok()) {
        out.set_note(absl::StrFormat("bucket %d unreadable", b));
        break;
      }
      // hlist_nulls: the chain ends at an odd "nulls" marker.
      size_t chain = 0;
      for (uint64_t elem = *node; elem != 0 && (elem & 1) == 0;
           ++chain, ++steps) {
        if (chain >= kMaxChainLength) {
          out.set_note(absl::StrFormat("bucket %d: chain too long", b));
          break;
        }
        ++found;
        if (static_cast<size_t>(out.entries_size()) < limits_.max_entries) {
          absl::StatusOr<std::vector<uint8_t>> key =
              ReadValue(elem + o_.elem_key, out.key_size());
          if (!key.ok()) {
            ++torn;
          } else if (percpu) {
            absl::StatusOr<uint64_t> pptr = k_.ReadU64(elem + value_offset);
            if (pptr.ok()) {
              ktvm::report::BpfMapEntry* entry = out.add_entries();
              *entry->mutable_key() = Render(btf, key_type_id, *key);
              torn_values +=
                  ReadPerCpuValues(*pptr, cpu_offsets, btf, out, *entry);
            } else {
              ++torn;
            }
          } else {
            absl::StatusOr<std::vector<uint8_t>> value =
                ReadValue(elem + value_offset, out.value_size());
            if (value.ok()) {
              ktvm::report::BpfMapEntry* entry = out.add_entries();
              *entry->mutable_key() = Render(btf, key_type_id, *key);
              *entry->mutable_value() =
                  Render(btf, out.btf_value_type_id(), *value);
            } else {
              ++torn;
            }
          }
        }
        absl::StatusOr<uint64_t> next = k_.ReadU64(elem);  // hash_node.next
        if (!next.ok()) break;
        elem = *next;
      }
    }
    out.set_entries_omitted(found - out.entries_size());
    if (torn != 0 || torn_values != 0) {
      diagnostics_.push_back(Problem(
          absl::StrFormat("bpf_maps[%s]", out.name()),
          absl::DataLossError(absl::StrFormat(
              "%d elements with an unreadable key or value left out, %d "
              "per-CPU values unreadable (left empty)",
              torn, torn_values))));
    }
  }

  // One value per CPU at pptr + __per_cpu_offset[cpu]; an unreadable one is
  // left empty so the index still names the CPU. Returns how many were.
  uint64_t ReadPerCpuValues(uint64_t pptr,
                            const std::vector<uint64_t>& cpu_offsets,
                            const struct ::btf* btf, const BpfMap& map,
                            ktvm::report::BpfMapEntry& entry) {
    uint64_t unreadable = 0;
    for (uint64_t cpu_offset : cpu_offsets) {
      absl::StatusOr<std::vector<uint8_t>> value =
          ReadValue(pptr + cpu_offset, map.value_size());
      if (!value.ok()) {
        ++unreadable;
        *entry.add_percpu_values() = RenderedValue();
        continue;
      }
      *entry.add_percpu_values() = Render(btf, map.btf_value_type_id(), *value);
    }
    return unreadable;
  }

  // QUEUE and STACK (queue_stack_maps.c): a ring of size = max_entries + 1
  // slots of value_size bytes; a queue pops at tail and pushes at head, a
  // stack pushes and pops at head. Entries are listed in pop order, key =
  // position (0 = the next value a pop would return).
  void ReadQueueStack(uint64_t map, const struct ::btf* btf, BpfMap& out) {
    absl::StatusOr<uint32_t> head = k_.ReadU32(map + o_.qs_head);
    absl::StatusOr<uint32_t> tail = k_.ReadU32(map + o_.qs_tail);
    absl::StatusOr<uint32_t> size = k_.ReadU32(map + o_.qs_size);
    if (!head.ok() || !tail.ok() || !size.ok()) {
      out.set_note("queue/stack header unreadable");
      return;
    }
    if (*size != uint64_t{out.max_entries()} + 1 || *head >= *size ||
        *tail >= *size) {
      out.set_note(absl::StrFormat(
          "queue/stack header is torn: head %d tail %d size %d for "
          "max_entries %d",
          *head, *tail, *size, out.max_entries()));
      return;
    }
    const bool stack = out.type() == ktvm::report::BPF_MAP_TYPE_STACK;
    const uint64_t count = (*head + *size - *tail) % *size;
    const uint64_t shown = std::min<uint64_t>(count, limits_.max_entries);
    out.set_entries_omitted(count - shown);
    for (uint64_t i = 0; i < shown; ++i) {
      const uint64_t slot =
          stack ? (*head + *size - 1 - i) % *size : (*tail + i) % *size;
      absl::StatusOr<std::vector<uint8_t>> value = ReadValue(
          map + o_.qs_elements + slot * out.value_size(), out.value_size());
      if (!value.ok()) {
        out.set_note(
            absl::StrFormat("slot %d: %s", slot, value.status().message()));
        out.set_entries_omitted(count - out.entries_size());
        return;
      }
      ktvm::report::BpfMapEntry* entry = out.add_entries();
      entry->mutable_key()->set_uint_value(i);
      *entry->mutable_value() = Render(btf, out.btf_value_type_id(), *value);
    }
  }

  // Global-data maps: their value type is a DATASEC of the program BTF.
  void KeepIfDatasec(uint64_t map, const struct ::btf* btf, uint32_t type_id,
                     const std::vector<uint8_t>& bytes) {
    if (btf == nullptr || type_id == 0) return;
    const struct btf_type* t = btf__type_by_id(btf, type_id);
    if (t == nullptr || !btf_is_datasec(t)) return;
    const char* name = btf__name_by_offset(btf, t->name_off);
    absl::StatusOr<uint64_t> btf_va = k_.ReadU64(map + o_.btf);
    if (!btf_va.ok()) return;
    sections_[*btf_va].emplace_back(name ? name : "", bytes);
  }

 public:
  // Hands over the program BTFs that have global-data sections.
  std::vector<ProgramGlobals> TakePrograms() {
    std::vector<ProgramGlobals> out;
    for (auto& [btf_va, sections] : sections_) {
      auto it = program_btf_.find(btf_va);
      if (it == program_btf_.end() || it->second == nullptr) continue;
      out.push_back({std::move(it->second), std::move(sections)});
    }
    return out;
  }

 private:
  std::vector<uint64_t> PerCpuOffsets() {
    std::vector<uint64_t> offsets;
    absl::StatusOr<uint64_t> table = k_.Symbol("__per_cpu_offset");
    absl::StatusOr<uint64_t> nr_va = k_.Symbol("nr_cpu_ids");
    if (!table.ok() || !nr_va.ok()) return offsets;
    absl::StatusOr<uint32_t> nr = k_.ReadU32(*nr_va);
    if (!nr.ok()) return offsets;
    for (uint32_t cpu = 0; cpu < std::min<uint64_t>(*nr, limits_.max_cpus);
         ++cpu) {
      absl::StatusOr<uint64_t> offset = k_.ReadU64(*table + 8 * cpu);
      if (!offset.ok()) break;
      offsets.push_back(*offset);
    }
    return offsets;
  }

  const GuestKernel& k_;
  const Offsets& o_;
  const BpfMapLimits& limits_;
  std::vector<Diagnostic>& diagnostics_;
  btf::RenderOptions render_;
  std::map<uint64_t, btf::BtfPtr> program_btf_;
  std::map<uint64_t, std::vector<std::pair<std::string, std::vector<uint8_t>>>>
      sections_;
};

}  // namespace

absl::StatusOr<BpfMapsRead> ReadBpfMaps(const GuestKernel& kernel,
                                        const BpfMapLimits& limits,
                                        std::vector<Diagnostic>& diagnostics) {
  absl::StatusOr<Offsets> offsets = ResolveOffsets(kernel);
  if (!offsets.ok()) return offsets.status();
  uint32_t skipped = 0;
  absl::StatusOr<std::vector<uint64_t>> maps =
      ListBpfMaps(kernel, limits.max_maps, &skipped);
  if (!maps.ok()) return maps.status();
  if (skipped != 0) {
    diagnostics.push_back(Problem(
        "bpf_maps", absl::DataLossError(absl::StrFormat(
                        "%d map_idr nodes were unreadable or inconsistent; "
                        "maps may be missing",
                        skipped))));
  }
  MapReader reader(kernel, *offsets, limits, diagnostics);
  BpfMapsRead out;
  for (uint64_t map : *maps) {
    absl::StatusOr<BpfMap> m = reader.Read(map);
    if (!m.ok()) {
      diagnostics.push_back(
          Problem(absl::StrFormat("bpf_maps[0x%x]", map), m.status()));
      continue;
    }
    out.maps.push_back(*std::move(m));
  }
  out.programs = reader.TakePrograms();
  return out;
}

}  // namespace ktvm::dump

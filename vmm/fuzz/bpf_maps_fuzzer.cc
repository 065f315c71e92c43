// BPF map value capture over corrupt guest memory: the input is guest
// memory (fuzz_guest.h) holding map_idr, struct bpf_map and its type's
// container (bpf_htab buckets and hlist_nulls chains, per-CPU pointers and
// __per_cpu_offset, bpf_queue_stack rings, arrays). The walk must honour
// every limit, and positional maps must list positions in order without
// claiming more entries than the map holds.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/dump/bpf_maps.h"
#include "vmm/fuzz/fuzz_guest.h"

namespace {

ktvm::dump::BpfMapLimits Limits() {
  ktvm::dump::BpfMapLimits limits;
  limits.max_maps = 8;
  limits.max_entries = 16;
  limits.max_value_bytes = 4096;
  limits.max_cpus = 4;
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ktvm::dump::fuzz::InitSharedFuzzGuest((*argv)[0]);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ktvm::dump::GuestKernel& k =
      ktvm::dump::fuzz::SharedFuzzGuest().Load(absl::MakeConstSpan(data, size));
  const ktvm::dump::BpfMapLimits limits = Limits();
  std::vector<ktvm::report::Diagnostic> diagnostics;
  const absl::StatusOr<ktvm::dump::BpfMapsRead> read =
      ktvm::dump::ReadBpfMaps(k, limits, diagnostics);
  if (!read.ok()) return 0;
  if (read->maps.size() > limits.max_maps) __builtin_trap();
  for (const ktvm::report::BpfMap& m : read->maps) {
    if (m.entries_size() > static_cast<int>(limits.max_entries)) {
      __builtin_trap();
    }
    for (const ktvm::report::BpfMapEntry& e : m.entries()) {
      if (e.percpu_values_size() > static_cast<int>(limits.max_cpus)) {
        __builtin_trap();
      }
      if (e.value().bytes_value().size() > limits.max_value_bytes) {
        __builtin_trap();
      }
    }
    // Arrays, queues and stacks: keys are positions 0.., and what is
    // listed plus what is left out never exceeds the map's own size.
    const auto type = m.type();
    if (type == ktvm::report::BPF_MAP_TYPE_ARRAY ||
        type == ktvm::report::BPF_MAP_TYPE_PERCPU_ARRAY ||
        type == ktvm::report::BPF_MAP_TYPE_QUEUE ||
        type == ktvm::report::BPF_MAP_TYPE_STACK) {
      for (int i = 0; i < m.entries_size(); ++i) {
        if (m.entries(i).key().uint_value() != static_cast<uint64_t>(i)) {
          __builtin_trap();
        }
      }
      if (m.entries_size() + m.entries_omitted() > m.max_entries()) {
        __builtin_trap();
      }
    }
  }
  return 0;
}

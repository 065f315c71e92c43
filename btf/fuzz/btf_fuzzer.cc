// BTF reaches us from guest memory (the kernel's own .BTF, a BPF program's
// BTF in struct btf) and from ELF files. libbpf validates the blob; the
// renderer must then stay bounded over any type graph it accepted,
// rendering every type over the input bytes themselves.
#include <bpf/btf.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "btf/btf_source.h"
#include "btf/value_renderer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> input(data, size);
  (void)ktvm::btf::BtfSectionFromElf(input);
  // The same bytes as the kernel's .BTF in guest memory, read through a
  // reader as the dump engine does (__start_BTF..__stop_BTF from kallsyms).
  constexpr uint64_t kStart = 0xffffffff82000000ULL;
  (void)ktvm::btf::BtfFromGuestMemory(
      [input](uint64_t va, absl::Span<uint8_t> out) {
        if (va < kStart || va - kStart > input.size() ||
            out.size() > input.size() - (va - kStart)) {
          return absl::OutOfRangeError("outside the fuzz input");
        }
        std::copy_n(input.data() + (va - kStart), out.size(), out.data());
        return absl::OkStatus();
      },
      kStart, kStart + input.size());
  auto btf = ktvm::btf::BtfFromRawBytes(input);
  if (!btf.ok()) return 0;
  ktvm::btf::RenderOptions opts;
  opts.max_total_nodes = 2000;
  opts.max_array_elements = 16;
  // Pointers resolve into the input itself, so pointer chasing, cycle
  // detection and depth limits run too.
  opts.read_virtual = [input](uint64_t va, absl::Span<uint8_t> out) {
    if (va > input.size() || out.size() > input.size() - va) {
      return absl::OutOfRangeError("outside the fuzz input");
    }
    for (size_t i = 0; i < out.size(); ++i) out[i] = input[va + i];
    return absl::OkStatus();
  };
  const uint32_t n = btf__type_cnt(btf->get());
  for (uint32_t id = 1; id < n && id < 64; ++id) {
    const ktvm::report::RenderedValue v =
        ktvm::btf::RenderValue(btf->get(), id, input, opts);
    (void)ktvm::btf::FormatRenderedValue(v);
  }
  return 0;
}

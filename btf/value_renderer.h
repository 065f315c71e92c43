// Renders bytes of a BTF-typed value into the report's RenderedValue tree,
// following pointers through guest memory when asked. Every path is bounded
// (depth, elements, total nodes) so hostile or corrupt memory cannot make it
// loop or explode.
#ifndef KTVM_BTF_VALUE_RENDERER_H_
#define KTVM_BTF_VALUE_RENDERER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "proto/failure_dump.pb.h"

struct btf;

namespace ktvm::memory {
class VirtualMemoryReader;
}  // namespace ktvm::memory

namespace ktvm::btf {

struct RenderOptions {
  // Where pointer targets are read from; nullptr = pointers are shown as
  // addresses only (skip_reason says so).
  const memory::VirtualMemoryReader* memory = nullptr;
  // How many pointer hops are followed from the root value.
  int max_pointer_depth = 2;
  // Array elements rendered; the declared count is always kept.
  size_t max_array_elements = 256;
  // Total RenderedValue nodes for one RenderValue call.
  size_t max_total_nodes = 100000;
  // Maps a stored pointer value (e.g. an arena user address) to a readable
  // virtual address, or nullopt when it cannot be read. Unset = identity.
  std::function<std::optional<uint64_t>(uint64_t)> translate_pointer;
  // Alternative to `memory` for callers that read guest memory some other
  // way (a kernel-image mapping, a test buffer). Used when set; otherwise
  // `memory` is used.
  std::function<absl::Status(uint64_t va, absl::Span<uint8_t> out)>
      read_virtual;
  // Largest pointee read through `memory`, in bytes.
  size_t max_pointee_bytes = 1 << 16;
};

// Renders `bytes` as a value of `type_id`. Short `bytes` yield a
// RenderedTruncated / RenderedUnsupported node saying so, never a crash.
ktvm::report::RenderedValue RenderValue(const struct ::btf* btf,
                                        uint32_t type_id,
                                        absl::Span<const uint8_t> bytes,
                                        const RenderOptions& opts);

// Same, into a caller-owned message (e.g. one allocated on a protobuf
// Arena, or a field of a larger report), which is cleared first. Saves the
// copy of the returned tree and lets arena callers skip per-node malloc/free.
void RenderValueInto(const struct ::btf* btf, uint32_t type_id,
                     absl::Span<const uint8_t> bytes, const RenderOptions& opts,
                     ktvm::report::RenderedValue* out);

// Per-type facts (names, sizes) resolved once and reused across renders;
// RenderValue resolves them afresh on every call.
struct RenderTypeCache;

// Renders many values through one BTF with one set of options (e.g. every
// payload of an sdt allocator), resolving each type's name and size once
// instead of once per node. `btf` and `opts` must outlive the renderer.
class ValueRenderer {
 public:
  ValueRenderer(const struct ::btf* btf, const RenderOptions& opts);
  ~ValueRenderer();
  ValueRenderer(const ValueRenderer&) = delete;
  ValueRenderer& operator=(const ValueRenderer&) = delete;

  // Like RenderValueInto; each call has its own node cap and cycle path.
  void RenderInto(uint32_t type_id, absl::Span<const uint8_t> bytes,
                  ktvm::report::RenderedValue* out);

 private:
  const struct ::btf* btf_;
  const RenderOptions& opts_;
  std::unique_ptr<RenderTypeCache> cache_;
};

// Human text, e.g. `struct task_ctx { pid = 42, magic = 0xfeed }`.
std::string FormatRenderedValue(const ktvm::report::RenderedValue& v);

// Kernel-style CPU list ("0-3,8") of the set bits in a little-endian bitmap.
std::string FormatCpuList(absl::Span<const uint32_t> cpus);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_VALUE_RENDERER_H_

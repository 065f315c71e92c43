// Guessing the C type of sdt_alloc payloads. The allocator only knows the
// slot size (pool.elem_size), so the walker looks for a struct of exactly
// elem_size - sizeof(sdt_data) bytes and narrows ties by name. A wrong guess
// renders nonsense field names, so anything still ambiguous falls back to
// hex and says why.
#ifndef KTVM_SDT_PAYLOAD_TYPE_H_
#define KTVM_SDT_PAYLOAD_TYPE_H_

#include <cstdint>
#include <string>
#include <string_view>

struct btf;

namespace ktvm::sdt {

struct PayloadTypeChoice {
  // 0: no type chosen, payloads are shown as bytes.
  uint32_t btf_type_id = 0;
  // "struct ktvm_task_ctx" when chosen.
  std::string type_name;
  // Why nothing was chosen: "payload_size == 0", "no candidate of size N",
  // "ambiguous: N candidates". Empty when a type was chosen.
  std::string reason;
};

// Picks the named struct of `payload_size` bytes in `btf`:
//  - the only candidate, if there is one;
//  - when `btf` is split BTF, candidates from the program part win over
//    base (vmlinux) types of the same size;
//  - then, in order, the first name rule that exactly one candidate meets:
//    named after the allocator variable (for "task_allocator" or
//    "scx_task_allocator": "task" or "task_ctx", then "*_task_ctx"), then
//    "task_ctx", "*_arena_ctx", "*_task_ctx", "*_ctx". A rule met by two or
//    more candidates passes to the next rule.
PayloadTypeChoice DiscoverPayloadBtfId(const struct ::btf* btf,
                                       uint64_t payload_size,
                                       std::string_view allocator_name = {});

// "task" for "scx_task_allocator"/"task_allocator"/"task_alloc"; empty when
// the name has no allocator suffix to strip.
std::string AllocatorStem(std::string_view allocator_name);

}  // namespace ktvm::sdt

#endif  // KTVM_SDT_PAYLOAD_TYPE_H_

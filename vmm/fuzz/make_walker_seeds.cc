// Writes seeds for the dump-walker fuzzers: guest memory images in
// fuzz_guest.h's layout holding the structures a real guest has, at the
// real kernel's BTF offsets (the same shapes the walkers' unit tests
// build): a printk ring with kernel log lines (one record wrapped, one
// torn), prog_idr with a program, its subprograms and a program without a
// ksym plus the bpf_kallsyms list with a struct_ops trampoline, and
// map_idr with a per-CPU hash, a hash, a queue and a stack.
//
// Usage: make_walker_seeds OUT_DIR BZIMAGE BTF_CACHE_DIR
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "btf/type_lookup.h"
#include "proto/failure_dump.pb.h"
#include "vmm/fuzz/fuzz_guest.h"

namespace ktvm::dump::fuzz {
namespace {

[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "make_walker_seeds: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::exit(1);
}

// Lays structures out in a fresh guest image and writes the used prefix.
class Image {
 public:
  explicit Image(FuzzGuest& guest) : guest_(guest), k_(guest.kernel()) {
    std::fill(guest_.ram().begin(), guest_.ram().end(), 0);
  }

  uint64_t Off(std::string_view type, std::string_view member) const {
    absl::StatusOr<uint64_t> o = k_.Offset(type, member);
    if (!o.ok()) Die(o.status().message());
    return *o;
  }
  uint64_t SizeOf(std::string_view type) const {
    absl::StatusOr<uint32_t> id = btf::RequireFullStruct(k_.btf(), type);
    if (!id.ok()) Die(id.status().message());
    absl::StatusOr<uint64_t> size = btf::TypeSize(k_.btf(), *id);
    if (!size.ok()) Die(size.status().message());
    return *size;
  }
  // Bump allocation, 64-byte aligned like the kernel's slabs.
  uint64_t Alloc(uint64_t bytes) {
    const uint64_t at = next_;
    next_ = (next_ + bytes + 63) & ~63ull;
    if (next_ > kRamBytes) Die("seed does not fit the fuzz guest's RAM");
    return at;
  }
  template <typename T>
  void Put(uint64_t pa, T value) {
    Touch(pa + sizeof(T));
    std::memcpy(guest_.ram().data() + pa, &value, sizeof(T));
  }
  void PutBytes(uint64_t pa, std::string_view bytes) {
    Touch(pa + bytes.size());
    std::memcpy(guest_.ram().data() + pa, bytes.data(), bytes.size());
  }
  void Write(const std::string& path) const {
    const uint64_t end = std::max(used_, next_);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(guest_.ram().data(), 1, end, f) != end ||
        std::fclose(f) != 0) {
      Die("cannot write " + path);
    }
  }

 private:
  void Touch(uint64_t end) { used_ = std::max(used_, end); }

  FuzzGuest& guest_;
  const GuestKernel& k_;
  uint64_t next_ = kFirstFreeAddr;
  uint64_t used_ = 0;
};

// A 16-descriptor ring with a 256-byte text ring (kernel lines of a real
// boot), one record wrapped to the ring's start, one reserved, one torn.
void WritePrintkSeed(FuzzGuest& guest, const std::string& path) {
  Image m(guest);
  constexpr unsigned kCountBits = 4, kSizeBits = 8;
  const uint64_t prb = m.Alloc(m.SizeOf("printk_ringbuffer"));
  const uint64_t desc_size = m.SizeOf("prb_desc");
  const uint64_t info_size = m.SizeOf("printk_info");
  const uint64_t descs = m.Alloc(16 * desc_size);
  const uint64_t infos = m.Alloc(16 * info_size);
  const uint64_t data = m.Alloc(1 << kSizeBits);
  m.Put<uint64_t>(kPrbAddr, Va(prb));
  m.Put<uint32_t>(prb + m.Off("printk_ringbuffer", "desc_ring.count_bits"),
                  kCountBits);
  m.Put<uint64_t>(prb + m.Off("printk_ringbuffer", "desc_ring.descs"),
                  Va(descs));
  m.Put<uint64_t>(prb + m.Off("printk_ringbuffer", "desc_ring.infos"),
                  Va(infos));
  m.Put<uint32_t>(prb + m.Off("printk_ringbuffer", "text_data_ring.size_bits"),
                  kSizeBits);
  m.Put<uint64_t>(prb + m.Off("printk_ringbuffer", "text_data_ring.data"),
                  Va(data));
  const auto add = [&](uint64_t id, uint64_t seq, uint64_t begin, uint64_t next,
                       std::string_view text, uint64_t state = 2,
                       uint64_t block_id = ~0ull) {
    const uint64_t d = descs + (id & 15) * desc_size;
    m.Put<uint64_t>(d + m.Off("prb_desc", "state_var"), (state << 62) | id);
    m.Put<uint64_t>(d + m.Off("prb_desc", "text_blk_lpos.begin"), begin);
    m.Put<uint64_t>(d + m.Off("prb_desc", "text_blk_lpos.next"), next);
    const uint64_t i = infos + (id & 15) * info_size;
    m.Put<uint64_t>(i + m.Off("printk_info", "seq"), seq);
    m.Put<uint64_t>(i + m.Off("printk_info", "ts_nsec"), 4328690000 + seq);
    m.Put<uint16_t>(i + m.Off("printk_info", "text_len"), text.size());
    m.Put<uint32_t>(i + m.Off("printk_info", "caller_id"), 0x80000001);
    const bool wraps = (begin >> kSizeBits) != (next >> kSizeBits);
    const uint64_t at = wraps ? 0 : (begin & 255);
    m.Put<uint64_t>(data + at, block_id == ~0ull ? id : block_id);
    m.PutBytes(data + at + 8, text);
  };
  // Data blocks at ring offsets 40, 80, 0 (wrapped), 140 and 180: none
  // overlaps another.
  add(16, 100, 256 + 40, 256 + 80, "Run /init as init process");
  add(17, 101, 256 + 80, 256 + 140,
      "sched_ext: BPF scheduler \"ktvm_fifo\" enabled");
  add(18, 102, 256 + 240, 512 + 32, "sysrq: Trigger a crash");
  add(19, 103, 512 + 140, 512 + 180, "reserved", 0);
  add(20, 104, 512 + 180, 512 + 230, "torn", 2, 7);
  m.Write(path);
}

// prog_idr: ktvm_enqueue (ksym, two subprograms), ktvm_dispatch (no ksym:
// bpf_func + jited_len + tag) and a torn program; bpf_kallsyms: enqueue's
// ksym and a struct_ops trampoline.
void WriteBpfSymbolsSeed(FuzzGuest& guest, const std::string& path) {
  Image m(guest);
  constexpr uint64_t kEnqueueCode = 0xffffffffc0400000ull;
  constexpr uint64_t kHelperCode = 0xffffffffc0400200ull;
  constexpr uint64_t kDispatchCode = 0xffffffffc0401000ull;
  constexpr uint64_t kTrampolineCode = 0xffffffffc0401a00ull;
  const uint64_t prog_size = m.SizeOf("bpf_prog");
  const uint64_t aux_size = m.SizeOf("bpf_prog_aux");
  const uint64_t ksym = m.Off("bpf_prog_aux", "ksym");
  const uint64_t lnode = m.Off("bpf_ksym", "lnode");
  const auto put_prog = [&](uint64_t id, std::string_view name) {
    const uint64_t prog = m.Alloc(prog_size), aux = m.Alloc(aux_size);
    m.Put<uint64_t>(prog + m.Off("bpf_prog", "aux"), Va(aux));
    m.Put<uint32_t>(aux + m.Off("bpf_prog_aux", "id"), id);
    m.PutBytes(aux + m.Off("bpf_prog_aux", "name"), name);
    return std::pair{prog, aux};
  };
  const auto put_ksym = [&](uint64_t at, uint64_t start, uint64_t end,
                            std::string_view name) {
    m.Put<uint64_t>(at + m.Off("bpf_ksym", "start"), start);
    m.Put<uint64_t>(at + m.Off("bpf_ksym", "end"), end);
    m.PutBytes(at + m.Off("bpf_ksym", "name"), name);
  };
  constexpr std::string_view kEnqueueName =
      "bpf_prog_ce4847d9c8e30691_ktvm_enqueue";
  const auto [enqueue, enqueue_aux] = put_prog(7, "ktvm_enqueue");
  put_ksym(enqueue_aux + ksym, kEnqueueCode, kEnqueueCode + 0x1a7,
           kEnqueueName);
  const uint64_t funcs = m.Alloc(16);
  m.Put<uint32_t>(enqueue_aux + m.Off("bpf_prog_aux", "func_cnt"), 2);
  m.Put<uint64_t>(enqueue_aux + m.Off("bpf_prog_aux", "func"), Va(funcs));
  const auto [sub0, sub0_aux] = put_prog(0, "ktvm_enqueue");
  put_ksym(sub0_aux + ksym, kEnqueueCode, kEnqueueCode + 0x1a7, kEnqueueName);
  const auto [sub1, sub1_aux] = put_prog(0, "F");
  put_ksym(sub1_aux + ksym, kHelperCode, kHelperCode + 0x40,
           "bpf_prog_ce4847d9c8e30691_task_ctx");
  m.Put<uint64_t>(funcs, Va(sub0));
  m.Put<uint64_t>(funcs + 8, Va(sub1));

  const auto [dispatch, dispatch_aux] = put_prog(8, "ktvm_dispatch");
  m.Put<uint64_t>(dispatch + m.Off("bpf_prog", "bpf_func"), kDispatchCode);
  m.Put<uint32_t>(dispatch + m.Off("bpf_prog", "jited_len"), 0x80);
  m.PutBytes(dispatch + m.Off("bpf_prog", "tag"),
             std::string_view("\x01\x02\x03\x04\xa5\xb6\xc7\xd8", 8));
  const uint64_t torn = m.Alloc(prog_size);
  m.Put<uint64_t>(torn + m.Off("bpf_prog", "aux"), 0x1234);

  // prog_idr: one XArray leaf node, programs at indices 1..3.
  const uint64_t node = m.Alloc(m.SizeOf("xa_node"));
  m.Put<uint8_t>(node + m.Off("xa_node", "shift"), 0);
  const uint64_t slots = node + m.Off("xa_node", "slots");
  m.Put<uint64_t>(slots + 8, Va(enqueue));
  m.Put<uint64_t>(slots + 16, Va(dispatch));
  m.Put<uint64_t>(slots + 24, Va(torn));
  m.Put<uint64_t>(kProgIdrAddr + m.Off("idr", "idr_rt.xa_head"), Va(node) | 2);

  const uint64_t tramp = m.Alloc(m.SizeOf("bpf_ksym"));
  put_ksym(tramp, kTrampolineCode, kTrampolineCode + 0xad,
           "bpf__sched_ext_ops_enqueue");
  m.Put<uint64_t>(kBpfKallsymsAddr, Va(enqueue_aux + ksym + lnode));
  m.Put<uint64_t>(enqueue_aux + ksym + lnode, Va(tramp + lnode));
  // The head is a kernel-image variable: the list returns to its image
  // address.
  m.Put<uint64_t>(tramp + lnode, kImageBase + kBpfKallsymsAddr);
  m.Write(path);
}

// map_idr: a per-CPU hash (2 CPUs), a hash, a queue that wrapped and a
// stack.
void WriteBpfMapsSeed(FuzzGuest& guest, const std::string& path) {
  Image m(guest);
  constexpr uint64_t kNulls = 1;  // hlist_nulls end marker
  constexpr uint64_t kCpu1Offset = 0x1000;
  m.Put<uint64_t>(kPerCpuOffsetAddr, 0);
  m.Put<uint64_t>(kPerCpuOffsetAddr + 8, kCpu1Offset);
  m.Put<uint32_t>(kNrCpuIdsAddr, 2);
  const uint64_t node = m.Alloc(m.SizeOf("xa_node"));
  m.Put<uint8_t>(node + m.Off("xa_node", "shift"), 0);
  m.Put<uint64_t>(kMapIdrAddr + m.Off("idr", "idr_rt.xa_head"), Va(node) | 2);
  const auto put_map = [&](uint64_t map, uint32_t id, report::BpfMapType type,
                           uint32_t key_size, uint32_t value_size,
                           uint32_t max_entries, std::string_view name) {
    m.Put<uint32_t>(map + m.Off("bpf_map", "map_type"), type);
    m.Put<uint32_t>(map + m.Off("bpf_map", "key_size"), key_size);
    m.Put<uint32_t>(map + m.Off("bpf_map", "value_size"), value_size);
    m.Put<uint32_t>(map + m.Off("bpf_map", "max_entries"), max_entries);
    m.Put<uint32_t>(map + m.Off("bpf_map", "id"), id);
    m.PutBytes(map + m.Off("bpf_map", "name"), name);
    m.Put<uint64_t>(node + m.Off("xa_node", "slots") + 8 * id, Va(map));
  };
  const uint64_t bucket = m.SizeOf("bucket");
  const uint64_t key = m.Off("htab_elem", "key");
  const uint64_t htab_size = m.SizeOf("bpf_htab");

  // enq_per_pid: PERCPU_HASH of u32 pid -> u64 per CPU; 4 buckets,
  // bucket 1 holds pid 42, bucket 2 pid 7 -> pid 9.
  const uint64_t percpu = m.Alloc(htab_size);
  put_map(percpu, 1, report::BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, "enq_per_pid");
  const uint64_t buckets = m.Alloc(4 * bucket);
  m.Put<uint64_t>(percpu + m.Off("bpf_htab", "buckets"), Va(buckets));
  m.Put<uint32_t>(percpu + m.Off("bpf_htab", "n_buckets"), 4);
  const uint64_t pid42 = m.Alloc(key + 16), pid7 = m.Alloc(key + 16),
                 pid9 = m.Alloc(key + 16);
  m.Put<uint64_t>(buckets, kNulls);
  m.Put<uint64_t>(buckets + bucket, Va(pid42));
  m.Put<uint64_t>(buckets + 2 * bucket, Va(pid7));
  m.Put<uint64_t>(buckets + 3 * bucket, kNulls);
  m.Put<uint64_t>(pid42, kNulls);
  m.Put<uint64_t>(pid7, Va(pid9));
  m.Put<uint64_t>(pid9, kNulls);
  const uint64_t values = m.Alloc(kCpu1Offset + 64);
  for (auto [elem, pid, slot] :
       {std::tuple{pid42, 42u, 0u}, std::tuple{pid7, 7u, 8u},
        std::tuple{pid9, 9u, 16u}}) {
    m.Put<uint32_t>(elem + key, pid);
    m.Put<uint64_t>(elem + key + 8, Va(values + slot));
    m.Put<uint64_t>(values + slot, pid * 3);
    m.Put<uint64_t>(values + kCpu1Offset + slot, pid * 5);
  }

  // task_ctx: HASH of u32 -> 16-byte value, one bucket, two elements.
  const uint64_t hash = m.Alloc(htab_size);
  put_map(hash, 2, report::BPF_MAP_TYPE_HASH, 4, 16, 8, "task_ctx");
  const uint64_t hash_bucket = m.Alloc(bucket);
  m.Put<uint64_t>(hash + m.Off("bpf_htab", "buckets"), Va(hash_bucket));
  m.Put<uint32_t>(hash + m.Off("bpf_htab", "n_buckets"), 1);
  const uint64_t e1 = m.Alloc(key + 24), e2 = m.Alloc(key + 24);
  m.Put<uint64_t>(hash_bucket, Va(e1));
  m.Put<uint64_t>(e1, Va(e2));
  m.Put<uint64_t>(e2, kNulls);
  m.Put<uint32_t>(e1 + key, 101);
  m.PutBytes(e1 + key + 8, "ktvm_stall\0\0\0\0\0\0");
  m.Put<uint32_t>(e2 + key, 102);
  m.PutBytes(e2 + key + 8, "true\0\0\0\0\0\0\0\0\0\0\0\0");

  const uint64_t qs_size = m.SizeOf("bpf_queue_stack");
  const uint64_t elements = m.Off("bpf_queue_stack", "elements");
  const auto put_queue_stack = [&](uint64_t map, uint32_t head, uint32_t tail,
                                   uint32_t size) {
    m.Put<uint32_t>(map + m.Off("bpf_queue_stack", "head"), head);
    m.Put<uint32_t>(map + m.Off("bpf_queue_stack", "tail"), tail);
    m.Put<uint32_t>(map + m.Off("bpf_queue_stack", "size"), size);
  };
  // A queue of 4 (5 slots) that wrapped: tail 3, head 1 -> slots 3, 4, 0.
  const uint64_t queue = m.Alloc(qs_size + 5 * 4);
  put_map(queue, 3, report::BPF_MAP_TYPE_QUEUE, 0, 4, 4, "fifo");
  put_queue_stack(queue, 1, 3, 5);
  for (uint32_t slot : {3u, 4u, 0u}) {
    m.Put<uint32_t>(queue + elements + 4 * slot, 10 * slot);
  }
  // A stack with two pushes: head 2 -> slots 1, 0.
  const uint64_t stack = m.Alloc(qs_size + 5 * 4);
  put_map(stack, 4, report::BPF_MAP_TYPE_STACK, 0, 4, 4, "lifo");
  put_queue_stack(stack, 2, 0, 5);
  m.Put<uint32_t>(stack + elements, 10);
  m.Put<uint32_t>(stack + elements + 4, 11);
  m.Write(path);
}

}  // namespace
}  // namespace ktvm::dump::fuzz

int main(int argc, char** argv) {
  using namespace ktvm::dump::fuzz;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s OUT_DIR BZIMAGE BTF_CACHE_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  absl::StatusOr<std::unique_ptr<FuzzGuest>> guest =
      FuzzGuest::Create(argv[2], argv[3]);
  if (!guest.ok()) Die(guest.status().message());
  WritePrintkSeed(**guest, dir + "/printk/ring_wrapped_torn.bin");
  WriteBpfSymbolsSeed(**guest, dir + "/bpf_symbols/progs_subprogs_tramp.bin");
  WriteBpfMapsSeed(**guest, dir + "/bpf_maps/hash_percpu_queue_stack.bin");
  return 0;
}

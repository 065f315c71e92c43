// Writes sdt_walker_fuzzer seeds: real allocator trees built with
// SdtTreeBuilder in the fuzzer's window, encoded as its input, so mutations
// start from walks that reach live leaves. Usage: make_sdt_walker_seeds DIR
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sdt/fuzz/sdt_walker_fuzz_input.h"
#include "sdt/testing/arena_builder.h"

namespace ktvm::sdt::fuzz {
namespace {

using testing::SdtTreeBuilder;
using testing::TestArena;

std::vector<uint8_t> Payload(int32_t pid) {
  std::vector<uint8_t> out(16, 0);
  std::memcpy(out.data(), &pid, 4);
  out[4] = 0xed;
  return out;
}

void Put(std::vector<uint8_t>& out, uint64_t v) {
  v = EncodeWord(v);
  const uint8_t* b = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), b, b + 8);
}

bool Write(const std::string& path, const TestArena& arena,
           const SdtTreeBuilder& tree, bool typed) {
  std::vector<uint8_t> out;
  std::vector<uint8_t> allocator = tree.AllocatorBytes();
  // pool.slab is unused by the walker; its byte 1 selects typed payloads.
  allocator[1] = typed ? 1 : 0;
  for (size_t i = 0; i < allocator.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, allocator.data() + i, 8);
    Put(out, w);
  }
  const uint64_t end = arena.unmapped_user_addr();
  if (end > TestArena::kUserVmStart + kMappedBytes) return false;
  for (uint64_t a = TestArena::kUserVmStart; a < end; a += 8) {
    Put(out, arena.ReadU64(a));
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  return std::fclose(f) == 0 && ok;
}

int Main(const std::string& dir) {
  bool ok = true;
  {
    TestArena arena(kWindowBytes, 4ULL << 20);
    SdtTreeBuilder tree(arena, 24);
    for (int i = 0; i < 5; ++i) tree.Alloc(Payload(i + 1));
    tree.Free(2);
    ok &= Write(dir + "/one_leaf_with_free.bin", arena, tree, true);
  }
  {
    TestArena arena(kWindowBytes, 4ULL << 20);
    SdtTreeBuilder tree(arena, 24);
    for (uint32_t i = 0; i < 6; ++i) {
      tree.AllocAt((i % 2) << 18 | i, Payload(i));
    }
    ok &= Write(dir + "/two_level1_subtrees.bin", arena, tree, false);
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ktvm::sdt::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  return ktvm::sdt::fuzz::Main(argv[1]);
}

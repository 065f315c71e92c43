// Writes the arena fuzzer's seeds: real x86_64 page tables (built with the
// same helper the translator tests use) mapping a small arena window the
// way the kernel does, so mutations start from walks that reach frames.
//
//   make_arena_seeds OUT_DIR
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "memory/test_ram.h"
#include "memory/x86_64_page_tables.h"
#include "sdt/fuzz/arena_fuzz_input.h"

namespace {

using ktvm::memory::X86_64PageTables;
using ktvm::memory::X86PagingMode;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRam = 64 * 1024;
constexpr uint64_t kTablePool = 0;  // the root is the pool's first page
constexpr uint64_t kTablePoolSize = 8 * kPage;
constexpr uint64_t kUserVmStart = 0x100000000ULL;
constexpr uint64_t kKernVmStart = 0xffffc90000108000ULL;
constexpr uint16_t kWindowPages = 8;

bool WriteSeed(const std::string& path, X86PagingMode mode) {
  ktvm::memory::TestRam ram;
  ram.AddRegion(0, kRam);
  X86_64PageTables tables(ram, mode, kTablePool, kTablePoolSize);
  // Window pages 0, 1 and 3 get frames of their own, page 5 shares page
  // 1's frame (a scratch page is not arena data), the rest are unmapped.
  const uint64_t frames = kTablePool + kTablePoolSize;
  const int mapped[] = {0, 1, 3};
  for (int i = 0; i < 3; ++i) {
    const uint64_t frame = frames + i * kPage;
    tables.Map(kKernVmStart + mapped[i] * kPage, frame, kPage);
    std::vector<uint8_t> pattern(kPage, static_cast<uint8_t>(0xa0 + i));
    ram.Write(frame, pattern);
  }
  tables.Map(kKernVmStart + 5 * kPage, frames + kPage, kPage);

  ktvm::sdt::fuzz::ArenaFuzzHeader h{};
  h.user_vm_start = kUserVmStart;
  h.kern_vm_start = kKernVmStart;
  h.window_pages = kWindowPages;
  h.scan_cap_pages = kWindowPages;
  h.capture_cap_pages = kWindowPages;
  h.flags = mode == X86PagingMode::kFiveLevel
                ? ktvm::sdt::fuzz::kArenaFuzzFiveLevel
                : 0;
  h.root_page = static_cast<uint8_t>(tables.root() / kPage);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  bool ok = std::fwrite(&h, sizeof(h), 1, f) == 1 &&
            std::fwrite(ram.Host(0, kRam), 1, kRam, f) == kRam;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_arena_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  if (!WriteSeed(dir + "/four_level.bin", X86PagingMode::kFourLevel) ||
      !WriteSeed(dir + "/five_level.bin", X86PagingMode::kFiveLevel)) {
    std::perror("make_arena_seeds");
    return 1;
  }
  return 0;
}

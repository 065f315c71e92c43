#include "vmm/fuzz/fuzz_guest.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "btf/kallsyms.h"
#include "btf/vmcoreinfo.h"

namespace ktvm::dump::fuzz {
namespace {

// The kernel's phys_base when image offset X sits at physical X.
constexpr uint64_t kPhysBase = 0ull - 0x1000000ull;
constexpr char kBzImageRunfile[] = "external/kernel/bzImage";

FuzzGuest* shared_guest = nullptr;

bool Readable(const std::string& path) {
  return access(path.c_str(), R_OK) == 0;
}

// bazel test runs in the runfiles tree; the libFuzzer binary runs from
// anywhere, next to its own runfiles.
std::string FindBzImage(const char* argv0) {
  if (const char* p = std::getenv("KTVM_FUZZ_BZIMAGE"); p && *p) return p;
  if (Readable(kBzImageRunfile)) return kBzImageRunfile;
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* dir = std::getenv(env); dir && *dir) {
      const std::string path = std::string(dir) + "/ktvm/" + kBzImageRunfile;
      if (Readable(path)) return path;
    }
  }
  if (argv0 != nullptr) {
    // Legacy (external/ under the workspace) and current runfiles layouts.
    for (const char* tree : {".runfiles/ktvm/external/", ".runfiles/"}) {
      const std::string path = std::string(argv0) + tree + "kernel/bzImage";
      if (Readable(path)) return path;
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<FuzzGuest>> FuzzGuest::Create(
    const std::string& bzimage_path, const std::string& btf_cache_dir) {
  BootstrapOptions options;
  options.bzimage_path = bzimage_path;
  options.btf_cache_dir = btf_cache_dir;
  absl::StatusOr<btf::BtfPtr> btf = LoadVmlinuxBtf(options);
  if (!btf.ok()) return btf.status();
  std::unique_ptr<FuzzGuest> guest(new FuzzGuest());
  guest->btf_ = *std::move(btf);
  guest->ram_.assign(kRamBytes, 0);
  absl::StatusOr<memory::GuestMemory> memory =
      memory::GuestMemory::FromRegions({{0, kRamBytes, guest->ram_.data()}});
  if (!memory.ok()) return memory.status();
  guest->memory_ = *std::move(memory);
  btf::Vmcoreinfo info;
  info.osrelease = "fuzz";
  info.phys_base = kPhysBase;
  info.symbols["init_top_pgt"] = kImageBase + kInitTopPgtAddr;
  std::vector<btf::KernelSymbol> symbols;
  for (const auto& [name, pa] :
       {std::pair{"prb", kPrbAddr}, std::pair{"prog_idr", kProgIdrAddr},
        std::pair{"map_idr", kMapIdrAddr},
        std::pair{"bpf_kallsyms", kBpfKallsymsAddr},
        std::pair{"nr_cpu_ids", kNrCpuIdsAddr},
        std::pair{"__per_cpu_offset", kPerCpuOffsetAddr}}) {
    symbols.push_back({name, kImageBase + pa, 'D'});
  }
  guest->kernel_ = std::make_unique<GuestKernel>(
      guest->memory_, std::move(info), btf::SymbolTable(std::move(symbols)),
      guest->btf_.get(), kPageOffset);
  return guest;
}

const GuestKernel& FuzzGuest::Load(absl::Span<const uint8_t> input) {
  const size_t n = std::min<size_t>(input.size(), kRamBytes);
  std::memcpy(ram_.data(), input.data(), n);
  if (dirty_ > n) std::memset(ram_.data() + n, 0, dirty_ - n);
  dirty_ = n;
  kernel_->InvalidateCaches();
  return *kernel_;
}

FuzzGuest& InitSharedFuzzGuest(const char* argv0) {
  if (shared_guest != nullptr) return *shared_guest;
  const std::string bzimage = FindBzImage(argv0);
  if (bzimage.empty()) {
    std::fprintf(stderr,
                 "fuzz_guest: the test kernel's bzImage is not in the "
                 "runfiles of %s; set KTVM_FUZZ_BZIMAGE\n",
                 argv0 ? argv0 : "(unknown)");
    std::abort();
  }
  const char* tmp = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::unique_ptr<FuzzGuest>> guest =
      FuzzGuest::Create(bzimage, tmp ? tmp : "");
  if (!guest.ok()) {
    std::fprintf(stderr, "fuzz_guest: %s: %s\n", bzimage.c_str(),
                 std::string(guest.status().message()).c_str());
    std::abort();
  }
  shared_guest = guest->release();
  return *shared_guest;
}

FuzzGuest& SharedFuzzGuest() {
  if (shared_guest == nullptr) {
    std::fprintf(stderr, "fuzz_guest: LLVMFuzzerInitialize did not run\n");
    std::abort();
  }
  return *shared_guest;
}

}  // namespace ktvm::dump::fuzz

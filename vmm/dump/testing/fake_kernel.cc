#include "vmm/dump/testing/fake_kernel.h"

#include <cstdlib>

#include "btf/type_lookup.h"
#include "gtest/gtest.h"

namespace ktvm::dump::testing {
namespace {

// The kernel's phys_base when image offset X sits at physical X.
constexpr uint64_t kPhysBase = 0ull - 0x1000000ull;

}  // namespace

const struct ::btf* VmlinuxBtf() {
  static btf::BtfPtr* btf = [] {
    BootstrapOptions options;
    options.bzimage_path = "external/kernel/bzImage";
    const char* tmp = std::getenv("TEST_TMPDIR");
    options.btf_cache_dir = tmp ? tmp : "/tmp";
    absl::StatusOr<btf::BtfPtr> b = LoadVmlinuxBtf(options);
    return b.ok() ? new btf::BtfPtr(*std::move(b)) : new btf::BtfPtr();
  }();
  return btf->get();
}

FakeKernel::FakeKernel(std::vector<std::pair<std::string, uint64_t>> syms)
    : ram_(kRamBytes) {
  std::vector<btf::KernelSymbol> table;
  for (const auto& [name, off] : syms) {
    table.push_back({name, kImageBase + off, 'D'});
  }
  symbols_ = btf::SymbolTable(std::move(table));
}

const GuestKernel& FakeKernel::Build() {
  memory_ = *memory::GuestMemory::FromRegions({{0, kRamBytes, ram_.data()}});
  btf::Vmcoreinfo info;
  info.osrelease = "test";
  info.phys_base = kPhysBase;
  info.symbols["init_top_pgt"] = kImageBase + 0x200000;
  kernel_ = std::make_unique<GuestKernel>(memory_, info, std::move(symbols_),
                                          VmlinuxBtf(), kPageOffset);
  return *kernel_;
}

uint64_t Off(const GuestKernel& k, std::string_view type,
             std::string_view member) {
  absl::StatusOr<uint64_t> o = k.Offset(type, member);
  EXPECT_TRUE(o.ok()) << type << "." << member << ": " << o.status();
  return o.value_or(0);
}

uint64_t SizeOf(const GuestKernel& k, std::string_view type) {
  absl::StatusOr<uint32_t> id = btf::RequireFullStruct(k.btf(), type);
  EXPECT_TRUE(id.ok()) << type << ": " << id.status();
  if (!id.ok()) return 0;
  absl::StatusOr<uint64_t> size = btf::TypeSize(k.btf(), *id);
  EXPECT_TRUE(size.ok()) << type << ": " << size.status();
  return size.value_or(0);
}

}  // namespace ktvm::dump::testing

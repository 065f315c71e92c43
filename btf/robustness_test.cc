// Random corruption must give errors or bounded output, never a crash or a
// hang: BTF bytes, renderer input over every fixture type, VMCOREINFO text
// and kallsyms tables.
#include <bpf/btf.h>

#include <random>

#include "btf/btf_source.h"
#include "btf/kallsyms.h"
#include "btf/kallsyms_test_table.h"
#include "btf/test_util.h"
#include "btf/value_renderer.h"
#include "btf/vmcoreinfo.h"
#include "gtest/gtest.h"

namespace ktvm::btf {
namespace {

std::vector<uint8_t> RawFixtureBtf() {
  BtfPtr b = testing::LoadFixtureBtfRaw();
  uint32_t size = 0;
  const auto* p = static_cast<const uint8_t*>(btf__raw_data(b.get(), &size));
  return std::vector<uint8_t>(p, p + size);
}

TEST(RobustnessTest, MutatedBtfParsesOrFailsAndRendersBounded) {
  const std::vector<uint8_t> good = RawFixtureBtf();
  std::mt19937 rng(12345);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> m = good;
    const int flips = 1 + rng() % 4;
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = rng();
    if (rng() % 8 == 0) m.resize(rng() % m.size());
    absl::StatusOr<BtfPtr> b = BtfFromRawBytes(m);
    if (!b.ok()) {
      ++rejected;
      continue;
    }
    ++parsed;
    // Render every type id (and some past the end) over random bytes, with a
    // reader that returns more random bytes for every pointer.
    std::vector<uint8_t> bytes(512);
    for (auto& x : bytes) x = rng();
    RenderOptions opts;
    opts.max_pointer_depth = 4;
    opts.max_total_nodes = 2000;
    opts.read_virtual = [&rng](uint64_t, absl::Span<uint8_t> out) {
      for (auto& x : out) x = rng();
      return absl::OkStatus();
    };
    const uint32_t n = btf__type_cnt(b->get());
    for (uint32_t id = 0; id < n + 3; ++id) {
      report::RenderedValue v = RenderValue(b->get(), id, bytes, opts);
      EXPECT_LT(v.ByteSizeLong(), size_t{8} << 20);
      (void)FormatRenderedValue(v);
    }
  }
  std::printf("mutated BTF: %d parsed and rendered, %d rejected\n", parsed,
              rejected);
  EXPECT_GT(rejected, 0);
}

TEST(RobustnessTest, SelfContainingStructDoesNotExhaustTheStack) {
  struct ::btf* b = btf__new_empty();
  const int self = btf__add_struct(b, "loop", 8);
  ASSERT_EQ(btf__add_field(b, "again", self, 0, 0), 0);
  const int arr = btf__add_array(b, self, self, 4);
  const int outer = btf__add_struct(b, "outer", 8);
  ASSERT_EQ(btf__add_field(b, "a", arr, 0, 0), 0);
  std::vector<uint8_t> bytes(64, 0x11);
  for (int id : {self, outer}) {
    const report::RenderedValue v = RenderValue(b, id, bytes, RenderOptions{});
    EXPECT_NE(FormatRenderedValue(v).find("nesting deeper"), std::string::npos)
        << id;
  }
  btf__free(b);
}

TEST(RobustnessTest, MutatedKallsymsAndVmcoreinfo) {
  const testing::BuiltKallsyms good =
      testing::BuildKallsyms(3000, 0xffffffff81000000ull);
  std::mt19937 rng(7);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 300; ++iter) {
    testing::BuiltKallsyms m = good;
    for (int f = 0; f < 1 + static_cast<int>(rng() % 16); ++f) {
      m.image[rng() % m.image.size()] = rng();
    }
    absl::StatusOr<SymbolTable> t = DecodeKallsyms(m.reader(), m.tables);
    if (t.ok()) {
      ++ok;
      (void)t->Format(0xffffffff81001234ull);
    } else {
      ++failed;
    }
  }
  std::printf("mutated kallsyms: %d decoded, %d rejected\n", ok, failed);

  std::string text =
      "OSRELEASE=7.3\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff82000000\n"
      "NUMBER(phys_base)=123\nKERNELOFFSET=1000\nOFFSET(a.b)=8\n";
  for (int iter = 0; iter < 2000; ++iter) {
    std::string m = text;
    for (int f = 0; f < 3; ++f) m[rng() % m.size()] = static_cast<char>(rng());
    (void)ParseVmcoreinfo(m);
    std::string region(4096, '\0');
    const size_t at = rng() % 3000;
    std::memcpy(&region[at], m.data(), std::min(m.size(), region.size() - at));
    (void)FindVmcoreinfo(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(region.data()),
                            region.size()),
        0);
  }
}

}  // namespace
}  // namespace ktvm::btf

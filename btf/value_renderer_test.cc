// Renders values built by the host compiler with the fixture's BPF BTF.
#include "btf/value_renderer.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/test_util.h"
#include "btf/testdata/fixture_types.h"
#include "btf/type_lookup.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"
#include "memory/test_ram.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"

namespace ktvm::btf {
namespace {

using ::ktvm::report::RenderedValue;
using ::testing::HasSubstr;

// Guest memory stand-in: objects placed at chosen virtual addresses.
class FlatMemory {
 public:
  void Place(uint64_t va, const void* p, size_t n) {
    auto& v = chunks_[va];
    v.assign(static_cast<const uint8_t*>(p),
             static_cast<const uint8_t*>(p) + n);
  }
  absl::Status Read(uint64_t va, absl::Span<uint8_t> out) const {
    auto it = chunks_.upper_bound(va);
    if (it != chunks_.begin()) {
      --it;
      const uint64_t off = va - it->first;
      if (off <= it->second.size() && out.size() <= it->second.size() - off) {
        std::memcpy(out.data(), it->second.data() + off, out.size());
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrFormat("0x%x not mapped", va));
  }
  std::function<absl::Status(uint64_t, absl::Span<uint8_t>)> Fn() const {
    return
        [this](uint64_t va, absl::Span<uint8_t> out) { return Read(va, out); };
  }

 private:
  std::map<uint64_t, std::vector<uint8_t>> chunks_;
};

template <typename T>
absl::Span<const uint8_t> Bytes(const T& v) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&v), sizeof(v));
}

const RenderedValue& Member(const RenderedValue& v, const std::string& name) {
  static const RenderedValue kEmpty;
  for (const auto& m : v.struct_value().members()) {
    if (m.name() == name) return m.value();
  }
  ADD_FAILURE() << "no member " << name << " in " << v.type_name();
  return kEmpty;
}

// Anonymous members are searched like C does.
const RenderedValue* FindDeep(const RenderedValue& v, const std::string& name) {
  for (const auto& m : v.struct_value().members()) {
    if (m.name() == name) return &m.value();
    if (m.name().empty() && m.value().has_struct_value()) {
      if (const RenderedValue* r = FindDeep(m.value(), name)) return r;
    }
  }
  return nullptr;
}

class ValueRendererTest : public ::testing::Test {
 protected:
  ValueRendererTest() : btf_(testing::LoadFixtureBtfRaw()) {}
  uint32_t Id(const char* s) { return *RequireFullStruct(btf_.get(), s); }
  BtfPtr btf_;
  FlatMemory mem_;
};

constexpr uint64_t kNodeA = 0xffff888000100000ull;
constexpr uint64_t kNodeB = 0xffff888000200000ull;
constexpr uint64_t kNodeC = 0xffff888000300000ull;
// The string starts 4 bytes before a page boundary; each page is mapped
// separately, so the reader must split its reads at the boundary.
constexpr uint64_t kName = 0xffff888000400ffcull;

// fx_task_ctx has a const member, so it is built in a byte buffer.
std::vector<uint8_t> MakeCtx() {
  std::vector<uint8_t> buf(sizeof(fx_task_ctx), 0);
  fx_task_ctx& c = *reinterpret_cast<fx_task_ctx*>(buf.data());
  c.pid = -42;
  c.magic = 0xfeed;
  c.lo = 0x11111111;
  c.hi = 0x22222222;
  c.nested.i = -7;
  std::strcpy(c.nested.tag, "tagged");
  c.color = FX_BLUE;
  std::strcpy(c.comm, "ktvm_fifo");
  for (int i = 0; i < 4; ++i) c.arr[i] = i * 10;
  c.inners[1].x = 99;
  c.inners[1].y = 'q';
  c.matrix[1][2] = 12;
  c.opaque = reinterpret_cast<fx_opaque*>(0xffff888000999000ull);
  c.head = reinterpret_cast<fx_node*>(kNodeA);
  const fx_aliased_u64 cv = 0x1234;
  std::memcpy(buf.data() + offsetof(fx_task_ctx, cv), &cv, sizeof(cv));
  c.mask.bits[0] = 0x10f;  // cpus 0-3, 8
  c.mask.bits[1] = 0x1;    // cpu 64
  c.bits.a = 5;
  c.bits.b = -3;
  c.bits.c = 1;
  c.bits.flag = true;
  c.bits.sc = -2;
  c.bits.es = FX_NEG;
  c.bits.wide = 0xABCDEF1234ull;
  c.wide = FX_WIDE_BIG;
  c.name = reinterpret_cast<const char*>(kName);
  c.anything = reinterpret_cast<void*>(0x1000);
  c.callback = reinterpret_cast<int (*)(int)>(0xffffffff81000000ull);
  return buf;
}

TEST_F(ValueRendererTest, EveryMemberKindOfTheTaskContext) {
  fx_node a{reinterpret_cast<fx_node*>(kNodeB), 1};
  fx_node b{reinterpret_cast<fx_node*>(kNodeC), 2};
  mem_.Place(kNodeA, &a, sizeof(a));
  mem_.Place(kNodeB, &b, sizeof(b));
  mem_.Place(kName, "work", 4);
  char page2[4096] = "er";
  mem_.Place(kName + 4, page2, sizeof(page2));
  const std::vector<uint8_t> c = MakeCtx();
  RenderOptions opts;
  opts.read_virtual = mem_.Fn();
  const RenderedValue v =
      RenderValue(btf_.get(), Id("fx_task_ctx"), absl::MakeConstSpan(c), opts);

  EXPECT_EQ(v.type_name(), "struct fx_task_ctx");
  ASSERT_TRUE(v.has_struct_value());
  EXPECT_FALSE(v.struct_value().is_union());
  EXPECT_EQ(Member(v, "pid").int_value(), -42);
  EXPECT_EQ(Member(v, "magic").uint_value(), 0xfeedu);
  ASSERT_NE(FindDeep(v, "raw"), nullptr);
  EXPECT_EQ(FindDeep(v, "raw")->uint_value(), 0x2222222211111111ull);
  EXPECT_EQ(FindDeep(v, "raw")->type_name(), "u64");
  EXPECT_EQ(FindDeep(v, "hi")->uint_value(), 0x22222222u);
  EXPECT_TRUE(v.struct_value().members(2).value().struct_value().is_union());
  EXPECT_EQ(FindDeep(Member(v, "nested"), "i")->int_value(), -7);
  EXPECT_EQ(Member(Member(v, "nested"), "tag").char_value(), "tagged");
  EXPECT_EQ(Member(v, "color").enum_value().variant(), "FX_BLUE");
  EXPECT_EQ(Member(v, "color").enum_value().value(), 7);
  EXPECT_EQ(Member(v, "comm").char_value(), "ktvm_fifo");
  EXPECT_EQ(Member(v, "comm").type_name(), "char[16]");
  const auto& arr = Member(v, "arr").array_value();
  ASSERT_EQ(arr.elements_size(), 4);
  EXPECT_EQ(arr.count(), 4u);
  EXPECT_EQ(arr.elements(3).int_value(), 30);
  EXPECT_EQ(
      Member(Member(v, "inners").array_value().elements(1), "x").int_value(),
      99);
  EXPECT_EQ(
      Member(Member(v, "inners").array_value().elements(1), "y").char_value(),
      "q");
  EXPECT_EQ(Member(v, "matrix")
                .array_value()
                .elements(1)
                .array_value()
                .elements(2)
                .int_value(),
            12);
  EXPECT_EQ(Member(v, "cv").uint_value(), 0x1234u);
  EXPECT_EQ(Member(v, "cv").type_name(), "const volatile fx_aliased_u64");

  // cpumask as a CPU list.
  const auto& mask = Member(v, "mask");
  ASSERT_TRUE(mask.has_cpu_list()) << mask.DebugString();
  EXPECT_EQ(mask.cpu_list().text(), "0-3,8,64");
  EXPECT_THAT(mask.cpu_list().cpus(),
              ::testing::ElementsAre(0, 1, 2, 3, 8, 64));

  // Bitfields: unsigned, sign-extended signed, bool, enum, 40-bit.
  const auto& bits = Member(v, "bits");
  EXPECT_EQ(Member(bits, "a").uint_value(), 5u);
  EXPECT_EQ(Member(bits, "b").int_value(), -3);
  EXPECT_EQ(Member(bits, "c").uint_value(), 1u);
  EXPECT_TRUE(Member(bits, "flag").bool_value());
  EXPECT_EQ(Member(bits, "sc").int_value(), -2);
  EXPECT_EQ(Member(bits, "es").enum_value().variant(), "FX_NEG");
  EXPECT_EQ(Member(bits, "es").enum_value().value(), -5);
  EXPECT_EQ(Member(bits, "wide").uint_value(), 0xABCDEF1234ull);
  EXPECT_EQ(bits.struct_value().members(1).bitfield_size(), 5u);
  EXPECT_EQ(bits.struct_value().members(1).bit_offset(), 3u);
  EXPECT_EQ(Member(v, "wide").enum_value().variant(), "FX_WIDE_BIG");

  // Pointers.
  const auto& opaque = Member(v, "opaque").pointer_value();
  EXPECT_EQ(opaque.address(), 0xffff888000999000ull);
  EXPECT_THAT(opaque.skip_reason(), HasSubstr("forward-declared"));
  const auto& head = Member(v, "head").pointer_value();
  EXPECT_EQ(head.address(), kNodeA);
  ASSERT_TRUE(head.has_target());
  EXPECT_EQ(Member(head.target(), "value").int_value(), 1);
  const auto& next = Member(head.target(), "next").pointer_value();
  ASSERT_TRUE(next.has_target());
  EXPECT_EQ(Member(next.target(), "value").int_value(), 2);
  // Depth 2 reached: node B's next is not followed.
  const auto& next2 = Member(next.target(), "next").pointer_value();
  EXPECT_EQ(next2.address(), kNodeC);
  EXPECT_FALSE(next2.has_target());
  EXPECT_THAT(next2.skip_reason(), HasSubstr("depth limit"));
  const auto& nm = Member(v, "name").pointer_value();
  ASSERT_TRUE(nm.has_target());
  EXPECT_EQ(nm.target().char_value(), "worker");
  EXPECT_THAT(Member(v, "anything").pointer_value().skip_reason(),
              HasSubstr("void pointer"));
  EXPECT_THAT(Member(v, "callback").pointer_value().skip_reason(),
              HasSubstr("function pointer"));

  const std::string text = FormatRenderedValue(v);
  EXPECT_THAT(text,
              HasSubstr("struct fx_task_ctx { pid = -42, magic = 0xfeed"));
  EXPECT_THAT(text, HasSubstr("comm = \"ktvm_fifo\""));
  EXPECT_THAT(text, HasSubstr("mask = cpus{0-3,8,64}"));
  EXPECT_THAT(text, HasSubstr("color = FX_BLUE"));
  std::printf("%s\n", text.c_str());
}

TEST_F(ValueRendererTest, CyclesAreDetected) {
  fx_node a{reinterpret_cast<fx_node*>(kNodeB), 1};
  fx_node b{reinterpret_cast<fx_node*>(kNodeA), 2};
  mem_.Place(kNodeA, &a, sizeof(a));
  mem_.Place(kNodeB, &b, sizeof(b));
  RenderOptions opts;
  opts.read_virtual = mem_.Fn();
  opts.max_pointer_depth = 10;
  const RenderedValue v =
      RenderValue(btf_.get(), Id("fx_node"), Bytes(a), opts);
  // a (root, in bytes) -> B -> A -> B again: cycle.
  const auto& p1 = Member(v, "next").pointer_value();
  ASSERT_TRUE(p1.has_target());
  const auto& p2 = Member(p1.target(), "next").pointer_value();
  ASSERT_TRUE(p2.has_target());
  const auto& p3 = Member(p2.target(), "next").pointer_value();
  EXPECT_FALSE(p3.has_target());
  EXPECT_THAT(p3.skip_reason(), HasSubstr("cycle"));
}

// RenderOptions.memory: pointers followed through real page tables in guest
// memory (the path the dump engine takes), including an unmapped target.
TEST_F(ValueRendererTest, PointersFollowedThroughTranslatedMemory) {
  memory::TestRam ram;
  ram.AddRegion(0, 4 << 20);
  memory::X86_64PageTables tables(ram, memory::X86PagingMode::kFourLevel,
                                  2 << 20, 1 << 20);
  // A and B on frames in reverse order; C left unmapped.
  tables.Map(kNodeA, 0x9000, memory::X86_64PageTables::k4K);
  tables.Map(kNodeB, 0x5000, memory::X86_64PageTables::k4K);
  fx_node a{reinterpret_cast<fx_node*>(kNodeB), 1};
  fx_node b{reinterpret_cast<fx_node*>(kNodeC), 2};
  ram.Write(0x9000, Bytes(a));
  ram.Write(0x5000, Bytes(b));
  absl::StatusOr<memory::GuestMemory> guest = ram.View();
  ASSERT_TRUE(guest.ok()) << guest.status();
  const memory::X86_64Translator translator(tables.root(),
                                            memory::X86PagingMode::kFourLevel);
  const memory::TranslatedMemory vm(*guest, translator);
  RenderOptions opts;
  opts.memory = &vm;
  opts.max_pointer_depth = 4;
  const RenderedValue v =
      RenderValue(btf_.get(), Id("fx_node"), Bytes(a), opts);
  const auto& to_b = Member(v, "next").pointer_value();
  ASSERT_TRUE(to_b.has_target()) << to_b.skip_reason();
  EXPECT_EQ(Member(to_b.target(), "value").int_value(), 2);
  const auto& to_c = Member(to_b.target(), "next").pointer_value();
  EXPECT_FALSE(to_c.has_target());
  EXPECT_THAT(to_c.skip_reason(), HasSubstr("not present"));
}

TEST_F(ValueRendererTest, PointerSkipReasons) {
  fx_node n{reinterpret_cast<fx_node*>(0xdead0000), 3};
  RenderOptions opts;
  RenderedValue v = RenderValue(btf_.get(), Id("fx_node"), Bytes(n), opts);
  EXPECT_EQ(Member(v, "next").pointer_value().skip_reason(),
            "no memory reader");
  opts.read_virtual = mem_.Fn();
  v = RenderValue(btf_.get(), Id("fx_node"), Bytes(n), opts);
  EXPECT_THAT(Member(v, "next").pointer_value().skip_reason(),
              HasSubstr("unreadable: 0xdead0000 not mapped"));
  // translate_pointer maps arena-style user addresses to readable ones.
  fx_node target{nullptr, 77};
  mem_.Place(kNodeC, &target, sizeof(target));
  opts.translate_pointer = [](uint64_t a) -> std::optional<uint64_t> {
    if (a == 0xdead0000) return kNodeC;
    return std::nullopt;
  };
  v = RenderValue(btf_.get(), Id("fx_node"), Bytes(n), opts);
  const auto& p = Member(v, "next").pointer_value();
  EXPECT_EQ(p.address(), 0xdead0000u);
  ASSERT_TRUE(p.has_target());
  EXPECT_EQ(Member(p.target(), "value").int_value(), 77);
  EXPECT_EQ(Member(p.target(), "next").pointer_value().skip_reason(), "NULL");
  n.next = reinterpret_cast<fx_node*>(0xbeef0000);
  v = RenderValue(btf_.get(), Id("fx_node"), Bytes(n), opts);
  EXPECT_EQ(Member(v, "next").pointer_value().skip_reason(),
            "address not translatable");
}

TEST_F(ValueRendererTest, ScalarsOfEveryWidth) {
  fx_scalars s;
  std::memset(&s, 0, sizeof(s));
  s.s8 = -1;
  s.u8 = 255;
  s.s16 = -300;
  s.u16 = 65535;
  s.s32 = INT_MIN;
  s.u32v = UINT_MAX;
  s.s64 = LLONG_MIN;
  s.u64v = ULLONG_MAX;
  s.b = true;
  s.ch = 'A';
  s.f = 1.5f;
  s.d = -2.25;
  const RenderedValue v =
      RenderValue(btf_.get(), Id("fx_scalars"), Bytes(s), {});
  EXPECT_EQ(Member(v, "s8").int_value(), -1);
  EXPECT_EQ(Member(v, "u8").uint_value(), 255u);
  EXPECT_EQ(Member(v, "s16").int_value(), -300);
  EXPECT_EQ(Member(v, "u16").uint_value(), 65535u);
  EXPECT_EQ(Member(v, "s32").int_value(), INT_MIN);
  EXPECT_EQ(Member(v, "u32v").uint_value(), UINT_MAX);
  EXPECT_EQ(Member(v, "s64").int_value(), LLONG_MIN);
  EXPECT_EQ(Member(v, "u64v").uint_value(), ULLONG_MAX);
  EXPECT_TRUE(Member(v, "b").bool_value());
  EXPECT_EQ(Member(v, "ch").char_value(), "A");
  EXPECT_EQ(Member(v, "f").float_value(), 1.5);
  EXPECT_EQ(Member(v, "d").float_value(), -2.25);
}

TEST_F(ValueRendererTest, CapsAndShortInput) {
  fx_big_array big;
  for (int i = 0; i < 1000; ++i) big.many[i] = i;
  RenderOptions opts;
  RenderedValue v =
      RenderValue(btf_.get(), Id("fx_big_array"), Bytes(big), opts);
  const auto& many = Member(v, "many").array_value();
  EXPECT_EQ(many.count(), 1000u);
  EXPECT_EQ(many.elements_size(), 256);
  EXPECT_EQ(many.elements(255).int_value(), 255);
  EXPECT_THAT(FormatRenderedValue(v), HasSubstr("254, 255, ... 744 more]"));

  opts.max_total_nodes = 20;
  v = RenderValue(btf_.get(), Id("fx_big_array"), Bytes(big), opts);
  EXPECT_LE(Member(v, "many").array_value().elements_size(), 20);

  opts.max_total_nodes = 5;
  const std::vector<uint8_t> c = MakeCtx();
  v = RenderValue(btf_.get(), Id("fx_task_ctx"), absl::MakeConstSpan(c), opts);
  EXPECT_THAT(FormatRenderedValue(v), HasSubstr("node cap"));

  // Only 6 bytes of a 192-byte struct.
  v = RenderValue(btf_.get(), Id("fx_task_ctx"),
                  absl::MakeConstSpan(c).subspan(0, 6), {});
  EXPECT_EQ(Member(v, "pid").int_value(), -42);
  EXPECT_THAT(Member(v, "magic").unsupported().reason(),
              HasSubstr("needs 4 bytes"));
  EXPECT_TRUE(Member(v, "comm").has_truncated());

  v = RenderValue(btf_.get(), 999999, absl::MakeConstSpan(c), {});
  EXPECT_TRUE(v.has_unsupported());
  v = RenderValue(nullptr, 1, absl::MakeConstSpan(c), {});
  EXPECT_TRUE(v.has_unsupported());
  const uint32_t fwd = FindStructOrFwd(btf_.get(), "fx_opaque")->type_id;
  v = RenderValue(btf_.get(), fwd, absl::MakeConstSpan(c), {});
  EXPECT_THAT(v.unsupported().reason(), HasSubstr("forward-declared"));
}

TEST_F(ValueRendererTest, HumanText) {
  fx_inner in{42, 'a'};
  EXPECT_EQ(FormatRenderedValue(
                RenderValue(btf_.get(), Id("fx_inner"), Bytes(in), {})),
            "struct fx_inner { x = 42, y = \"a\" }");
  EXPECT_EQ(FormatCpuList({}), "");
  const uint32_t cpus[] = {0, 2, 3, 4, 7};
  EXPECT_EQ(FormatCpuList(cpus), "0,2-4,7");
}

TEST(DatasecRenderTest, DataSectionOfTheObject) {
  struct bpf_object* obj = testing::OpenFixtureObject();
  const struct ::btf* btf = bpf_object__btf(obj);
  const int sec = btf__find_by_name_kind(btf, ".data", BTF_KIND_DATASEC);
  ASSERT_GT(sec, 0);
  struct bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    if (std::string(bpf_map__name(map)).find(".data") != std::string::npos)
      break;
  }
  ASSERT_NE(map, nullptr);
  size_t size = 0;
  const void* init = bpf_map__initial_value(map, &size);
  ASSERT_NE(init, nullptr);
  const RenderedValue v = RenderValue(
      btf, sec, absl::MakeConstSpan(static_cast<const uint8_t*>(init), size),
      {});
  EXPECT_EQ(Member(v, "fx_counter").int_value(), 5);
  EXPECT_EQ(Member(v, "fx_total").uint_value(), 77u);
  EXPECT_EQ(Member(v, "fx_sign").enum_value().variant(), "FX_NEG");
  std::printf("%s\n", FormatRenderedValue(v).c_str());
  bpf_object__close(obj);
}

// One ValueRenderer reused across values and types (its name/size cache
// warm) renders exactly what fresh RenderValue calls render, into messages
// on an Arena, and each call gets its own node cap.
TEST_F(ValueRendererTest, ReusedRendererMatchesFreshRenders) {
  fx_node a{reinterpret_cast<fx_node*>(kNodeB), 1};
  fx_node b{reinterpret_cast<fx_node*>(kNodeA), 2};
  mem_.Place(kNodeA, &a, sizeof(a));
  mem_.Place(kNodeB, &b, sizeof(b));
  mem_.Place(kName, "worker", 7);
  const std::vector<uint8_t> c = MakeCtx();
  RenderOptions opts;
  opts.read_virtual = mem_.Fn();
  opts.max_pointer_depth = 10;
  const RenderedValue ctx_fresh =
      RenderValue(btf_.get(), Id("fx_task_ctx"), absl::MakeConstSpan(c), opts);
  const RenderedValue node_fresh =
      RenderValue(btf_.get(), Id("fx_node"), Bytes(a), opts);

  google::protobuf::Arena arena;
  ValueRenderer renderer(btf_.get(), opts);
  for (int round = 0; round < 2; ++round) {
    auto* ctx = google::protobuf::Arena::CreateMessage<RenderedValue>(&arena);
    renderer.RenderInto(Id("fx_task_ctx"), absl::MakeConstSpan(c), ctx);
    EXPECT_EQ(ctx->DebugString(), ctx_fresh.DebugString());
    auto* node = google::protobuf::Arena::CreateMessage<RenderedValue>(&arena);
    renderer.RenderInto(Id("fx_node"), Bytes(a), node);
    EXPECT_EQ(node->DebugString(), node_fresh.DebugString());
    EXPECT_EQ(Member(*node, "value").int_value(), 1);
  }

  // Into a message that already holds a render: the old content is gone.
  RenderedValue reused = ctx_fresh;
  RenderValueInto(btf_.get(), Id("fx_node"), Bytes(a), opts, &reused);
  EXPECT_EQ(reused.DebugString(), node_fresh.DebugString());

  RenderOptions capped = opts;
  capped.max_total_nodes = 3;
  ValueRenderer small(btf_.get(), capped);
  RenderedValue first, second;
  small.RenderInto(Id("fx_node"), Bytes(a), &first);
  small.RenderInto(Id("fx_node"), Bytes(a), &second);
  EXPECT_EQ(first.DebugString(), second.DebugString());
  EXPECT_TRUE(second.has_struct_value());
}

}  // namespace
}  // namespace ktvm::btf

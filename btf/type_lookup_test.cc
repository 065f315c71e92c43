// Layout facts from clang's BPF BTF checked against the host compiler's
// sizeof/offsetof of the same header.
#include "btf/type_lookup.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstddef>

#include "btf/test_util.h"
#include "btf/testdata/fixture_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ktvm::btf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TypeLookupTest : public ::testing::Test {
 protected:
  TypeLookupTest() : btf_(testing::LoadFixtureBtfRaw()) {}
  uint32_t Struct(const char* name) {
    absl::StatusOr<uint32_t> id = RequireFullStruct(btf_.get(), name);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }
  MemberLocation Member(const char* s, const char* path) {
    absl::StatusOr<MemberLocation> loc =
        MemberOffset(btf_.get(), Struct(s), path);
    EXPECT_TRUE(loc.ok()) << path << ": " << loc.status();
    return loc.ok() ? *loc : MemberLocation{};
  }
  BtfPtr btf_;
};

TEST_F(TypeLookupTest, FullStructFoundWithPrefixOrWithout) {
  absl::StatusOr<FoundStruct> a = FindStructOrFwd(btf_.get(), "fx_task_ctx");
  absl::StatusOr<FoundStruct> b =
      FindStructOrFwd(btf_.get(), "struct fx_task_ctx");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->type_id, b->type_id);
  EXPECT_FALSE(a->is_fwd);
  EXPECT_FALSE(a->is_union);
  EXPECT_TRUE(absl::IsNotFound(
      FindStructOrFwd(btf_.get(), "union fx_task_ctx").status()));
}

TEST_F(TypeLookupTest, ForwardDeclarationIsDistinguishedFromMissing) {
  absl::StatusOr<FoundStruct> fwd = FindStructOrFwd(btf_.get(), "fx_opaque");
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  EXPECT_TRUE(fwd->is_fwd);
  absl::Status full = RequireFullStruct(btf_.get(), "fx_opaque").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(full)) << full;
  EXPECT_THAT(std::string(full.message()), HasSubstr("forward declaration"));

  absl::Status missing = FindStructOrFwd(btf_.get(), "no_such_struct").status();
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_THAT(std::string(missing.message()), HasSubstr("no_such_struct"));
  EXPECT_TRUE(absl::IsNotFound(
      RequireFullStruct(btf_.get(), "no_such_struct").status()));
}

TEST_F(TypeLookupTest, SizesMatchHostCompiler) {
  EXPECT_EQ(*TypeSize(btf_.get(), Struct("fx_task_ctx")), sizeof(fx_task_ctx));
  EXPECT_EQ(*TypeSize(btf_.get(), Struct("fx_bits")), sizeof(fx_bits));
  EXPECT_EQ(*TypeSize(btf_.get(), Struct("fx_scalars")), sizeof(fx_scalars));
  EXPECT_EQ(*TypeSize(btf_.get(), Struct("cpumask")), sizeof(cpumask));
  EXPECT_EQ(*TypeSize(btf_.get(), Struct("fx_big_array")), 4000u);
  const uint32_t opaque = FindStructOrFwd(btf_.get(), "fx_opaque")->type_id;
  EXPECT_FALSE(TypeSize(btf_.get(), opaque).ok());
  EXPECT_FALSE(TypeSize(btf_.get(), 0).ok());
  EXPECT_FALSE(TypeSize(btf_.get(), 999999).ok());
}

TEST_F(TypeLookupTest, MemberOffsetsMatchHostCompiler) {
  EXPECT_EQ(Member("fx_task_ctx", "pid").byte_offset,
            offsetof(fx_task_ctx, pid));
  EXPECT_EQ(Member("fx_task_ctx", "magic").byte_offset,
            offsetof(fx_task_ctx, magic));
  // Through an anonymous union, then an anonymous struct inside it.
  EXPECT_EQ(Member("fx_task_ctx", "raw").byte_offset,
            offsetof(fx_task_ctx, raw));
  EXPECT_EQ(Member("fx_task_ctx", "hi").byte_offset, offsetof(fx_task_ctx, hi));
  EXPECT_EQ(Member("fx_task_ctx", "nested.u").byte_offset,
            offsetof(fx_task_ctx, nested.u));
  EXPECT_EQ(Member("fx_task_ctx", "nested.tag").byte_offset,
            offsetof(fx_task_ctx, nested.tag));
  EXPECT_EQ(Member("fx_task_ctx", "inners[1].y").byte_offset,
            offsetof(fx_task_ctx, inners[1].y));
  EXPECT_EQ(Member("fx_task_ctx", "matrix[1][2]").byte_offset,
            offsetof(fx_task_ctx, matrix[1][2]));
  EXPECT_EQ(Member("fx_task_ctx", "mask.bits[1]").byte_offset,
            offsetof(fx_task_ctx, mask.bits[1]));
  EXPECT_EQ(Member("fx_task_ctx", "callback").byte_offset,
            offsetof(fx_task_ctx, callback));
  const MemberLocation hi = Member("fx_task_ctx", "hi");
  EXPECT_EQ(hi.bit_offset, offsetof(fx_task_ctx, hi) * 8);
  EXPECT_EQ(hi.bitfield_size, 0u);
  EXPECT_EQ(TypeName(btf_.get(), hi.type_id), "unsigned int");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "cv").type_id),
            "const volatile fx_aliased_u64");
  EXPECT_EQ(PeelModifiers(btf_.get(), Member("fx_task_ctx", "cv").type_id),
            Member("fx_scalars", "u64v").type_id);
}

TEST_F(TypeLookupTest, BitfieldLocations) {
  // offsetof cannot take bitfields; the ABI puts a:3 at bit 0, b:5 right
  // after, c:1 in the next byte.
  const MemberLocation a = Member("fx_bits", "a");
  const MemberLocation b = Member("fx_bits", "b");
  const MemberLocation c = Member("fx_bits", "c");
  const MemberLocation wide = Member("fx_task_ctx", "bits.wide");
  EXPECT_EQ(a.bit_offset, 0u);
  EXPECT_EQ(a.bitfield_size, 3u);
  EXPECT_EQ(b.bit_offset, 3u);
  EXPECT_EQ(b.bitfield_size, 5u);
  EXPECT_EQ(c.bit_offset, 8u);
  EXPECT_EQ(c.bitfield_size, 1u);
  EXPECT_EQ(wide.bitfield_size, 40u);
  EXPECT_EQ(wide.bit_offset, offsetof(fx_task_ctx, bits) * 8 + 64);
  EXPECT_EQ(Member("fx_bits", "flag").byte_offset, offsetof(fx_bits, flag));
}

TEST_F(TypeLookupTest, MemberPathErrorsNameTheProblem) {
  const uint32_t id = Struct("fx_task_ctx");
  absl::Status s = MemberOffset(btf_.get(), id, "nested.nope").status();
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("nope"));
  s = MemberOffset(btf_.get(), id, "pid.x").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  s = MemberOffset(btf_.get(), id, "arr[4]").status();
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  s = MemberOffset(btf_.get(), id, "arr[x]").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  s = MemberOffset(btf_.get(), id, "pid[0]").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_FALSE(MemberOffset(btf_.get(), id, "").ok());
  EXPECT_FALSE(MemberOffset(btf_.get(), id, "a..b").ok());
}

TEST_F(TypeLookupTest, EnumValues) {
  EXPECT_EQ(*EnumValue(btf_.get(), "fx_color", "FX_BLUE"), 7);
  EXPECT_EQ(*EnumValue(btf_.get(), "enum fx_signed", "FX_NEG"), -5);
  EXPECT_EQ(*EnumValue(btf_.get(), "", "FX_POS"), 3);
  EXPECT_EQ(*EnumValue(btf_.get(), "fx_wide", "FX_WIDE_BIG"), 0x123456789LL);
  EXPECT_TRUE(
      absl::IsNotFound(EnumValue(btf_.get(), "fx_color", "FX_NEG").status()));
  EXPECT_TRUE(
      absl::IsNotFound(EnumValue(btf_.get(), "no_enum", "FX_RED").status()));
  EXPECT_TRUE(absl::IsNotFound(EnumValue(btf_.get(), "", "NOPE").status()));
}

TEST_F(TypeLookupTest, TypeNamesAsWrittenInC) {
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "comm").type_id),
            "char[16]");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "matrix").type_id),
            "int[2][3]");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "head").type_id),
            "struct fx_node *");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "name").type_id),
            "const char *");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "raw").type_id), "u64");
  EXPECT_EQ(TypeName(btf_.get(), Member("fx_task_ctx", "color").type_id),
            "enum fx_color");
  EXPECT_EQ(TypeName(btf_.get(), Struct("fx_inner")), "struct fx_inner");
  EXPECT_EQ(TypeName(btf_.get(), 0), "void");
}

TEST(DatasecTest, RawObjectListsVariablesInSectionOrder) {
  BtfPtr btf = testing::LoadFixtureBtfRaw();
  absl::StatusOr<std::vector<DatasecVar>> bss =
      DatasecVariables(btf.get(), ".bss");
  ASSERT_TRUE(bss.ok()) << bss.status();
  std::vector<std::string> names;
  for (const DatasecVar& v : *bss) names.push_back(v.name);
  EXPECT_THAT(names, ElementsAre("fx_ctx", "fx_scalars", "fx_list", "fx_big"));
  EXPECT_EQ((*bss)[0].type_id, *RequireFullStruct(btf.get(), "fx_task_ctx"));
  EXPECT_EQ((*bss)[0].size, sizeof(fx_task_ctx));
  EXPECT_TRUE(absl::IsNotFound(DatasecVariables(btf.get(), ".nope").status()));
}

TEST(DatasecTest, OffsetsAfterLibbpfFinalizesTheObject) {
  struct bpf_object* obj = testing::OpenFixtureObject();
  const struct ::btf* btf = bpf_object__btf(obj);
  ASSERT_NE(btf, nullptr);
  absl::StatusOr<std::vector<DatasecVar>> data = DatasecVariables(btf, ".data");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 3u);
  // Offsets are distinct, in range and aligned for their sizes.
  EXPECT_EQ((*data)[0].name, "fx_counter");
  EXPECT_EQ((*data)[1].name, "fx_total");
  EXPECT_EQ((*data)[1].size, 8u);
  EXPECT_EQ((*data)[1].offset % 8, 0u);
  EXPECT_NE((*data)[0].offset, (*data)[1].offset);
  absl::StatusOr<std::vector<DatasecVar>> bss = DatasecVariables(btf, ".bss");
  ASSERT_TRUE(bss.ok());
  uint32_t end = 0;
  for (const DatasecVar& v : *bss) end = std::max(end, v.offset + v.size);
  EXPECT_GE(end, sizeof(fx_task_ctx) + sizeof(fx_scalars) + sizeof(fx_node) +
                     sizeof(fx_big_array));
  bpf_object__close(obj);
}

}  // namespace
}  // namespace ktvm::btf

#include "sdt/sdt_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

using ::testing::HasSubstr;

TEST(SdtLayoutTest, FullStructsGiveTheUpstreamOffsets) {
  absl::StatusOr<btf::BtfPtr> btf = testing::LoadProgramBtf("sdt_fixture");
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(btf->get());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->allocator_pool, 0u);
  EXPECT_EQ(o->allocator_root, 32u);
  EXPECT_EQ(o->allocator_size, 40u);
  EXPECT_EQ(o->pool_elem_size, 8u);
  EXPECT_EQ(o->desc_allocated, 0u);
  EXPECT_EQ(o->desc_nr_free, 64u);
  EXPECT_EQ(o->desc_chunk, 72u);
  EXPECT_EQ(o->chunk_union, 0u);
  EXPECT_EQ(o->data_header_size, 8u);
  EXPECT_EQ(o->DescReadSize(), 80u);
}

TEST(SdtLayoutTest, ForwardDeclaredDataAndChunkTakeTheUpstreamLayout) {
  absl::StatusOr<btf::BtfPtr> btf = testing::LoadProgramBtf("sdt_fwd_fixture");
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(btf->get());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->chunk_union, 0u);
  EXPECT_EQ(o->data_header_size, 8u);
  EXPECT_EQ(o->allocator_root, 32u);
  EXPECT_EQ(o->desc_chunk, 72u);
}

TEST(SdtLayoutTest, ForwardDeclaredAllocatorIsAClearError) {
  absl::StatusOr<btf::BtfPtr> btf =
      testing::LoadProgramBtf("sdt_fwd_allocator_fixture");
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(btf->get());
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(o.status().message(), HasSubstr("struct scx_allocator"));
  EXPECT_THAT(o.status().message(), HasSubstr("forward declaration"));
}

TEST(SdtLayoutTest, ProgramWithoutSdtAllocIsNotFound) {
  absl::StatusOr<btf::BtfPtr> btf =
      testing::LoadProgramBtf("payload_types_fixture");
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(btf->get());
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(o.status().message(), HasSubstr("scx_allocator not found"));
}

TEST(SdtLayoutTest, NullBtfIsInvalid) {
  EXPECT_EQ(SdtAllocOffsets::FromBtf(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ktvm::sdt

#include "sdt/payload_type.h"

#include <bpf/btf.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

class PayloadTypeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<btf::BtfPtr> b =
        testing::LoadProgramBtf("payload_types_fixture");
    ASSERT_TRUE(b.ok()) << b.status();
    btf_ = *std::move(b);
  }
  btf::BtfPtr btf_;
};

TEST_F(PayloadTypeTest, ExactTaskCtxBeatsSuffixPatterns) {
  const PayloadTypeChoice c = DiscoverPayloadBtfId(btf_.get(), 16);
  EXPECT_EQ(c.type_name, "struct task_ctx");
  EXPECT_NE(c.btf_type_id, 0u);
  EXPECT_EQ(c.reason, "");
}

TEST_F(PayloadTypeTest, TiedPatternPassesToTheNext) {
  // Two *_arena_ctx tie; *_task_ctx has one.
  const PayloadTypeChoice c = DiscoverPayloadBtfId(btf_.get(), 24);
  EXPECT_EQ(c.type_name, "struct z_task_ctx");
}

TEST_F(PayloadTypeTest, TwoGenericCtxAreAmbiguous) {
  const PayloadTypeChoice c = DiscoverPayloadBtfId(btf_.get(), 32);
  EXPECT_EQ(c.btf_type_id, 0u);
  EXPECT_EQ(c.reason, "ambiguous: 2 candidates");
}

TEST_F(PayloadTypeTest, NoPatternAtAllIsAmbiguous) {
  const PayloadTypeChoice c = DiscoverPayloadBtfId(btf_.get(), 48);
  EXPECT_EQ(c.btf_type_id, 0u);
  EXPECT_EQ(c.reason, "ambiguous: 2 candidates");
}

TEST_F(PayloadTypeTest, SingleCandidateWinsWhateverItsName) {
  const PayloadTypeChoice c = DiscoverPayloadBtfId(btf_.get(), 40);
  EXPECT_EQ(c.type_name, "struct only_one");
  EXPECT_EQ(btf__type_by_id(btf_.get(), c.btf_type_id)->size, 40u);
}

TEST_F(PayloadTypeTest, NamedAfterTheAllocatorWins) {
  EXPECT_EQ(DiscoverPayloadBtfId(btf_.get(), 56, "dsq_allocator").type_name,
            "struct dsq_ctx");
  EXPECT_EQ(DiscoverPayloadBtfId(btf_.get(), 56, "scx_dsq_allocator").type_name,
            "struct dsq_ctx");
  // Without the allocator's name the generic *_arena_ctx rule decides.
  EXPECT_EQ(DiscoverPayloadBtfId(btf_.get(), 56).type_name,
            "struct w_arena_ctx");
}

TEST_F(PayloadTypeTest, ReasonsForNothingChosen) {
  EXPECT_EQ(DiscoverPayloadBtfId(btf_.get(), 0).reason, "payload_size == 0");
  EXPECT_EQ(DiscoverPayloadBtfId(btf_.get(), 4088).reason,
            "no candidate of size 4088");
  EXPECT_EQ(DiscoverPayloadBtfId(nullptr, 16).reason, "no BTF");
}

TEST(PayloadTypeOwnStructsTest, AllocatorStructsAreNeverPayloads) {
  absl::StatusOr<btf::BtfPtr> b = testing::LoadProgramBtf("sdt_fixture");
  ASSERT_TRUE(b.ok()) << b.status();
  // sdt_data is 8 bytes, sdt_desc 80, sdt_pool 32, scx_allocator 40.
  for (uint64_t size : {8, 80, 32, 40}) {
    EXPECT_EQ(DiscoverPayloadBtfId(b->get(), size).reason,
              "no candidate of size " + std::to_string(size));
  }
}

TEST(PayloadTypeSplitTest, ProgramTypesBeatVmlinuxTypesOfTheSameSize) {
  absl::StatusOr<btf::BtfPtr> vmlinux = testing::LoadTestVmlinuxBtf();
  ASSERT_TRUE(vmlinux.ok()) << vmlinux.status();
  absl::StatusOr<btf::BtfPtr> program =
      testing::LoadProgramBtf("payload_types_fixture", vmlinux->get());
  ASSERT_TRUE(program.ok()) << program.status();
  // vmlinux has many 40-byte structs; the program has one.
  const PayloadTypeChoice c = DiscoverPayloadBtfId(program->get(), 40);
  EXPECT_EQ(c.type_name, "struct only_one");
  EXPECT_GE(c.btf_type_id, btf__type_cnt(vmlinux->get()));
  // A size only vmlinux has still finds vmlinux candidates.
  const int32_t task_struct =
      btf__find_by_name_kind(vmlinux->get(), "task_struct", BTF_KIND_STRUCT);
  ASSERT_GT(task_struct, 0);
  const uint32_t size = btf__type_by_id(vmlinux->get(), task_struct)->size;
  const PayloadTypeChoice v = DiscoverPayloadBtfId(program->get(), size);
  if (v.btf_type_id != 0) {
    EXPECT_LT(v.btf_type_id, btf__type_cnt(vmlinux->get()));
  } else {
    EXPECT_THAT(v.reason, ::testing::StartsWith("ambiguous: "));
  }
}

TEST(AllocatorStemTest, StripsSuffixAndScxPrefix) {
  EXPECT_EQ(AllocatorStem("scx_task_allocator"), "task");
  EXPECT_EQ(AllocatorStem("task_allocator"), "task");
  EXPECT_EQ(AllocatorStem("cgrp_alloc"), "cgrp");
  EXPECT_EQ(AllocatorStem("allocator_of_things"), "");
}

}  // namespace
}  // namespace ktvm::sdt

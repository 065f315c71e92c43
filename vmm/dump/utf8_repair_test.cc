#include "vmm/dump/utf8_repair.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::dump {
namespace {

TEST(Utf8Test, AcceptsValidAndRejectsWhatProtobufRejects) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("comm\0pad", 8)));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
}

TEST(Utf8Test, EscapesOnlyTheInvalidBytes) {
  EXPECT_EQ(EscapeInvalidUtf8("a\xff"
                              "b\xc3\xa9\xc3"),
            "a\\xffb\xc3\xa9\\xc3");
  EXPECT_TRUE(IsValidUtf8(EscapeInvalidUtf8("\xed\xa0\x80\xf8")));
}

TEST(Utf8Test, RepairsNestedAndRepeatedStringsButNotBytes) {
  ktvm::report::FailureDumpReport r;
  r.mutable_header()->add_command_line("ok");
  r.mutable_header()->add_command_line("bad\xfe");
  auto* member = r.add_sdt_allocators()
                     ->add_entries()
                     ->mutable_payload()
                     ->mutable_struct_value()
                     ->add_members();
  member->set_name("comm");
  member->mutable_value()->set_char_value("x\x9d");
  r.add_bpf_maps()->mutable_arena()->add_pages()->set_data("\xff\xff");
  EXPECT_TRUE(HasInvalidUtf8(r));
  EXPECT_EQ(RepairInvalidUtf8(&r), 2u);
  EXPECT_FALSE(HasInvalidUtf8(r));
  EXPECT_EQ(r.header().command_line(0), "ok");
  EXPECT_EQ(r.header().command_line(1), "bad\\xfe");
  EXPECT_EQ(member->value().char_value(), "x\\x9d");
  EXPECT_EQ(r.bpf_maps(0).arena().pages(0).data(), "\xff\xff");
}

TEST(Utf8Test, DeepNestingDoesNotRecurse) {
  ktvm::report::RenderedValue root;
  ktvm::report::RenderedValue* v = &root;
  // Deeper than any parser allows (100), shallow enough for protobuf's own
  // recursive destructor.
  for (int i = 0; i < 3000; ++i) {
    v = v->mutable_pointer_value()->mutable_target();
  }
  v->set_char_value("\xff");
  EXPECT_TRUE(HasInvalidUtf8(root));
  EXPECT_EQ(RepairInvalidUtf8(&root), 1u);
  EXPECT_FALSE(HasInvalidUtf8(root));
}

}  // namespace
}  // namespace ktvm::dump

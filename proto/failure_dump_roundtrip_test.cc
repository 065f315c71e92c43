// Fills every field of FailureDumpReport (recursively, through reflection, so
// a field added later is covered without touching this test) and checks that
// binary and proto3 JSON round trips give back the identical message.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "proto/failure_dump.pb.h"

namespace ktvm::report {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Gives each scalar a distinct, non-default value so that a field lost or
// swapped in a round trip shows up in the comparison.
class Filler {
 public:
  // depth bounds recursion through RenderedValue, which contains itself.
  void Fill(Message* msg, int depth) {
    const Descriptor* d = msg->GetDescriptor();
    const Reflection* r = msg->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->containing_oneof() != nullptr) continue;  // Done below.
      FillField(msg, r, f, depth);
    }
    // For each oneof, set one member; which one rotates so that every
    // member of every oneof is exercised across the tree.
    for (int i = 0; i < d->oneof_decl_count(); ++i) {
      const auto* oneof = d->oneof_decl(i);
      const FieldDescriptor* f = nullptr;
      if (depth > 0) {
        f = oneof->field(next_member_[oneof]++ % oneof->field_count());
      } else {
        // At the depth limit only a scalar member keeps the tree finite.
        for (int j = 0; j < oneof->field_count() && f == nullptr; ++j) {
          if (oneof->field(j)->type() != FieldDescriptor::TYPE_MESSAGE)
            f = oneof->field(j);
        }
        if (f == nullptr) continue;
      }
      FillField(msg, r, f, depth);
    }
  }

  uint64_t counter_ = 1;

 private:
  // Per oneof, which member to set next, so every alternative is exercised.
  std::map<const google::protobuf::OneofDescriptor*, int> next_member_;

  void FillField(Message* msg, const Reflection* r, const FieldDescriptor* f,
                 int depth) {
    const int reps = f->is_repeated() ? 2 : 1;
    for (int k = 0; k < reps; ++k) {
      ++counter_;
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(msg, f, -int32_t(counter_))
                           : r->SetInt32(msg, f, -int32_t(counter_));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(msg, f, -int64_t(counter_) << 33)
                           : r->SetInt64(msg, f, -int64_t(counter_) << 33);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(msg, f, uint32_t(counter_))
                           : r->SetUInt32(msg, f, uint32_t(counter_));
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          // High bit set: JSON must carry uint64 as a string without loss.
          f->is_repeated()
              ? r->AddUInt64(msg, f, (uint64_t{1} << 63) | counter_)
              : r->SetUInt64(msg, f, (uint64_t{1} << 63) | counter_);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(msg, f, 0.5 + counter_)
                           : r->SetDouble(msg, f, 0.5 + counter_);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(msg, f, 0.25f + counter_)
                           : r->SetFloat(msg, f, 0.25f + counter_);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(msg, f, true)
                           : r->SetBool(msg, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          const auto* v = e->value(1 + counter_ % (e->value_count() - 1));
          f->is_repeated() ? r->AddEnum(msg, f, v) : r->SetEnum(msg, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string s = f->type() == FieldDescriptor::TYPE_BYTES
                              ? std::string("\x00\xff\x10", 3) +
                                    std::to_string(counter_)
                              : "v\xc3\xa9" + std::to_string(counter_);
          f->is_repeated() ? r->AddString(msg, f, s)
                           : r->SetString(msg, f, s);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth <= 0) return;
          Fill(f->is_repeated() ? r->AddMessage(msg, f)
                                : r->MutableMessage(msg, f),
               depth - 1);
          break;
      }
    }
  }
};

// Every field of every message type reachable from the report was set
// somewhere in the tree.
void CollectSet(const Message& msg, std::set<std::string>* seen) {
  const Reflection* r = msg.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(msg, &fields);
  for (const auto* f : fields) {
    seen->insert(f->full_name());
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(msg, f); ++i)
        CollectSet(r->GetRepeatedMessage(msg, f, i), seen);
    } else {
      CollectSet(r->GetMessage(msg, f), seen);
    }
  }
}

void CollectAll(const Descriptor* d, std::set<std::string>* all,
                std::set<const Descriptor*>* visited) {
  if (!visited->insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    all->insert(d->field(i)->full_name());
    if (d->field(i)->message_type() != nullptr)
      CollectAll(d->field(i)->message_type(), all, visited);
  }
}

FailureDumpReport FullReport() {
  FailureDumpReport report;
  Filler filler;
  // Several passes rotate which oneof member is chosen.
  for (int pass = 0; pass < 16; ++pass) {
    FailureDumpReport part;
    filler.Fill(&part, 8);
    report.MergeFrom(part);
  }
  return report;
}

TEST(FailureDumpSchemaTest, EveryFieldIsFilled) {
  const FailureDumpReport report = FullReport();
  std::set<std::string> seen, all;
  std::set<const Descriptor*> visited;
  CollectSet(report, &seen);
  CollectAll(FailureDumpReport::descriptor(), &all, &visited);
  for (const auto& name : all) EXPECT_TRUE(seen.count(name)) << name;
  EXPECT_GT(all.size(), 150u);
}

TEST(FailureDumpSchemaTest, BinaryRoundTrip) {
  const FailureDumpReport report = FullReport();
  std::string wire;
  ASSERT_TRUE(report.SerializeToString(&wire));
  FailureDumpReport back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(report, back));
}

TEST(FailureDumpSchemaTest, JsonRoundTrip) {
  const FailureDumpReport report = FullReport();
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(report, &json, opts).ok());
  // 64-bit values travel as strings in proto3 JSON.
  EXPECT_NE(json.find("\"rip\":\""), std::string::npos) << json.substr(0, 400);
  FailureDumpReport back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(report, back));
}

TEST(FailureDumpSchemaTest, ExitKindsMatchKernelValues) {
  EXPECT_EQ(SCX_EXIT_ERROR, 1024);
  EXPECT_EQ(SCX_EXIT_ERROR_BPF, 1025);
  EXPECT_EQ(SCX_EXIT_ERROR_STALL, 1026);
  EXPECT_EQ(SCX_EXIT_UNREG, 64);
  EXPECT_EQ(SCX_EXIT_PARENT, 68);
  EXPECT_EQ(BPF_MAP_TYPE_ARENA, 33);
}

}  // namespace
}  // namespace ktvm::report

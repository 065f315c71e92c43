#include "vmm/dump/utf8_repair.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace ktvm::dump {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t ValidSequenceLength(absl::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const auto continuation = [&](size_t i) {
    return i < s.size() && (byte(i) & 0xc0) == 0x80;
  };
  uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return continuation(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (b0 == 0xe0 && byte(1) < 0xa0) return 0;   // overlong
    if (b0 == 0xed && byte(1) >= 0xa0) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (b0 == 0xf0 && byte(1) < 0x90) return 0;   // overlong
    if (b0 == 0xf4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Pushes the sub-messages of `m` that are set, so a walk visits every
// message of the tree without recursion (a deeply nested RenderedValue
// cannot exhaust the stack).
void PushChildren(const Message& m, std::vector<const Message*>* pending) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        pending->push_back(&r->GetRepeatedMessage(m, f, i));
      }
    } else {
      pending->push_back(&r->GetMessage(m, f));
    }
  }
}

std::vector<const FieldDescriptor*> StringFields(const Message& m) {
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  std::erase_if(fields, [](const FieldDescriptor* f) {
    return f->type() != FieldDescriptor::TYPE_STRING;
  });
  return fields;
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  while (!s.empty()) {
    size_t n = ValidSequenceLength(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string EscapeInvalidUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t n = ValidSequenceLength(s);
    if (n == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<uint8_t>(s[0]));
      n = 1;
    } else {
      out.append(s.data(), n);
    }
    s.remove_prefix(n);
  }
  return out;
}

bool HasInvalidUtf8(const Message& message) {
  std::vector<const Message*> pending = {&message};
  while (!pending.empty()) {
    const Message* m = pending.back();
    pending.pop_back();
    const Reflection* r = m->GetReflection();
    for (const FieldDescriptor* f : StringFields(*m)) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          if (!IsValidUtf8(r->GetRepeatedString(*m, f, i))) return true;
        }
      } else if (!IsValidUtf8(r->GetString(*m, f))) {
        return true;
      }
    }
    PushChildren(*m, &pending);
  }
  return false;
}

size_t RepairInvalidUtf8(Message* message) {
  size_t repaired = 0;
  std::vector<const Message*> pending = {message};
  while (!pending.empty()) {
    // Every message reached from `message` through its own reflection is
    // part of the mutable tree `message` owns.
    Message* m = const_cast<Message*>(pending.back());
    pending.pop_back();
    const Reflection* r = m->GetReflection();
    for (const FieldDescriptor* f : StringFields(*m)) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          const std::string& value = r->GetRepeatedString(*m, f, i);
          if (IsValidUtf8(value)) continue;
          r->SetRepeatedString(m, f, i, EscapeInvalidUtf8(value));
          ++repaired;
        }
      } else if (const std::string& value = r->GetString(*m, f);
                 !IsValidUtf8(value)) {
        r->SetString(m, f, EscapeInvalidUtf8(value));
        ++repaired;
      }
    }
    PushChildren(*m, &pending);
  }
  return repaired;
}

}  // namespace ktvm::dump

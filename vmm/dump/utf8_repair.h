// Proto3 parsers reject string fields that are not valid UTF-8, and protobuf
// serialises them anyway (only logging), so one torn comm or binary log
// record read from guest memory would make a whole report unreadable. These
// helpers find and repair such strings before a report is written.
#ifndef KTVM_VMM_DUMP_UTF8_REPAIR_H_
#define KTVM_VMM_DUMP_UTF8_REPAIR_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace ktvm::dump {

// Strict UTF-8 as protobuf checks it: no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool IsValidUtf8(absl::string_view s);

// `s` with every byte that is not part of a valid UTF-8 sequence written as
// the four characters \xNN, so the original bytes stay recoverable.
std::string EscapeInvalidUtf8(absl::string_view s);

// True when any string field (not bytes) anywhere in `message` is invalid.
bool HasInvalidUtf8(const google::protobuf::Message& message);

// Escapes every invalid string field in place; returns how many were fixed.
size_t RepairInvalidUtf8(google::protobuf::Message* message);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_UTF8_REPAIR_H_

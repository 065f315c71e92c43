#include "sdt/sdt_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "btf/value_renderer.h"

namespace ktvm::sdt {

std::string FormatSdtAllocEntry(const ktvm::report::SdtAllocEntry& entry) {
  std::string out =
      absl::StrFormat("idx=%d genn=%d user_addr=%#x payload=", entry.idx(),
                      entry.genn(), entry.user_addr());
  absl::StrAppend(&out, btf::FormatRenderedValue(entry.payload()));
  if (entry.zeroed()) absl::StrAppend(&out, " (zeroed)");
  return out;
}

std::string FormatSdtAllocatorSnapshot(
    const ktvm::report::SdtAllocatorSnapshot& s) {
  std::string out = absl::StrFormat(
      "sdt_alloc %s (elem_size=%u, btf_type_id=%u", s.allocator_name(),
      s.elem_size(), s.payload_btf_type_id());
  if (!s.payload_type_name().empty()) {
    absl::StrAppend(&out, ", type=", s.payload_type_name());
  }
  if (!s.payload_type_reason().empty()) {
    absl::StrAppend(&out, ", reason=", s.payload_type_reason());
  }
  absl::StrAppendFormat(&out, "): %d live", s.entries_size());
  if (s.truncated()) absl::StrAppend(&out, " (truncated)");
  if (s.skipped_subtrees() > 0) {
    absl::StrAppendFormat(&out, " (%u subtrees skipped)", s.skipped_subtrees());
  }
  if (!s.error().empty()) absl::StrAppend(&out, " error: ", s.error());
  for (const ktvm::report::SdtAllocEntry& e : s.entries()) {
    absl::StrAppend(&out, "\n  ", FormatSdtAllocEntry(e));
  }
  return out;
}

}  // namespace ktvm::sdt

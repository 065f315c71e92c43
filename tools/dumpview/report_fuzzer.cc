// Fuzzes what dumpview does with a file a user hands it: detect the format,
// parse, and format every section (issue 8). Seeds: the generated fixtures.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "tools/dumpview/report_text.h"
#include "vmm/dump/report_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<ktvm::report::FailureDumpReport> report =
      ktvm::dump::ParseReport(
          absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!report.ok()) return 0;
  const auto& all = ktvm::dumpview::AllSections();
  std::string text = ktvm::dumpview::FormatReport(
      *report, std::set<ktvm::dumpview::Section>(all.begin(), all.end()));
  // Whatever parsed must convert to both formats and read back.
  for (auto format :
       {ktvm::dump::ReportFormat::kBinary, ktvm::dump::ReportFormat::kJson}) {
    absl::StatusOr<std::string> bytes =
        ktvm::dump::SerializeReport(*report, format);
    if (bytes.ok() && !ktvm::dump::ParseReport(*bytes).ok()) __builtin_trap();
  }
  // Every parsed report has a header, so its text is never empty.
  if (text.empty()) __builtin_trap();
  return 0;
}

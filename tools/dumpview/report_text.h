// Human-readable text of a FailureDumpReport, section by section, for
// tools/dumpview and for ktvm's own end-of-run summary.
#ifndef KTVM_TOOLS_DUMPVIEW_REPORT_TEXT_H_
#define KTVM_TOOLS_DUMPVIEW_REPORT_TEXT_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::dumpview {

enum class Section {
  kHeader,
  kTrigger,
  kTimings,
  kScxExit,
  kVcpus,
  kKernelLog,
  kMaps,
  kArena,
  kSdt,
  kRunQueues,
  kDiagnostics,
  kConsole,
  kLayout,
};

// Every section, in the order they are printed.
const std::vector<Section>& AllSections();

// The --section spelling, e.g. "scx_exit".
absl::string_view SectionName(Section section);

// Parses a comma-separated list of section names ("all" = every section).
// InvalidArgument names the unknown entry and lists the valid ones.
absl::StatusOr<std::set<Section>> ParseSections(absl::string_view list);

struct TextOptions {
  // Newest kernel log records shown; 0 = all the report holds.
  size_t max_log_records = 0;
};

// Text of the chosen sections; sections with nothing to show say so in one
// line rather than vanishing, so a missing part of a dump is visible.
std::string FormatReport(const ktvm::report::FailureDumpReport& report,
                         const std::set<Section>& sections,
                         const TextOptions& options = {});

// One sdt allocator like the reference's Display: a header line, then one
// indented `idx=N genn=M user_addr=0x... payload=<value>` line per entry.
std::string FormatSdtAllocator(
    const ktvm::report::SdtAllocatorSnapshot& allocator);

}  // namespace ktvm::dumpview

#endif  // KTVM_TOOLS_DUMPVIEW_REPORT_TEXT_H_

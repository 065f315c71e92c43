// The few lines ktvm prints on screen after a dump: trigger, exit info,
// first backtrace frames, timings, what went into the report.
#ifndef KTVM_VMM_DUMP_REPORT_SUMMARY_H_
#define KTVM_VMM_DUMP_REPORT_SUMMARY_H_

#include <string>

#include "proto/failure_dump.pb.h"

namespace ktvm::dump {

std::string FormatReportSummary(const ktvm::report::FailureDumpReport& report);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_REPORT_SUMMARY_H_

// The hidden temporary files a report writer publishes from, and the
// clean-up of those a killed writer left behind. WriteReportAtomically
// writes ".<name>.tmp-<pid>-<n>-<16 hex>" next to the report and renames it;
// a SIGKILL between the two leaves the temporary file, which the next
// writer in that directory removes.
#ifndef KTVM_VMM_DUMP_REPORT_TEMP_FILES_H_
#define KTVM_VMM_DUMP_REPORT_TEMP_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ktvm::dump {

// A temporary name next to `path` that no other writer (thread, process or
// host sharing the directory) picks: pid, a process-wide counter and random
// bits. Callers create it with O_EXCL.
std::string ReportTempPathFor(const std::string& path);

// The writer's pid in a name ReportTempPathFor() made (the file name only),
// or 0 for any other name.
pid_t WriterPidOfReportTempName(absl::string_view name);

// Removes the temporary report files in `dir` whose writer is gone
// (kill(pid, 0) says ESRCH) and that were last modified before
// `older_than`: a newer one may belong to a live writer kill() cannot see
// (another PID namespace sharing the directory). Never touches this
// process's own files or any other name. Reads at most 100000 entries.
// Returns how many it removed.
int RemoveStaleReportTempFiles(const std::string& dir, absl::Time older_than);

// When this process started (from /proc; at most a second early, since the
// boot time there is whole seconds). InfinitePast when unknown, so nothing
// is older.
absl::Time ProcessStartTime();

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_REPORT_TEMP_FILES_H_

#include "tools/dumpview/exit_codes.h"

namespace ktvm::dumpview {

ExitCode ExitCodeForReadError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
      return kExitCannotOpen;
    case absl::StatusCode::kDataLoss:
      return kExitCorrupt;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
      return kExitNotAReport;
    default:
      return kExitInternal;
  }
}

}  // namespace ktvm::dumpview

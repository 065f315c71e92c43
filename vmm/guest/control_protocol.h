// Host side of the ktvm control protocol: the guest init writes one event per
// line to COM2 (see control_format.h and vmm/guest/README.md); the host splits
// the byte stream into lines and parses each. Parsing never crashes: bad input
// gives an absl::Status saying what was wrong.
#ifndef KTVM_VMM_GUEST_CONTROL_PROTOCOL_H_
#define KTVM_VMM_GUEST_CONTROL_PROTOCOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/guest/control_format.h"

namespace ktvm::guest {

enum class ControlEventKind {
  kUnknown,  // well-formed line with an event name this build does not know
  kInitStarted,
  kMountsDone,
  kMountFailed,
  kSchedulerStarted,
  kSchedulerEnabled,
  kSchedulerFailed,
  kSchedulerExit,
  kWorkloadStarted,
  kWorkloadExit,
  kInitError,
  kPoweroff,
};

struct ControlEvent {
  ControlEventKind kind = ControlEventKind::kUnknown;
  std::string name;  // event word as sent
  std::vector<std::pair<std::string, std::string>> fields;  // decoded values

  // Value of the first field named `key`, if any.
  std::optional<std::string> Get(std::string_view key) const;
  // Value of `key` parsed as a decimal integer; error if missing or not one.
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
};

// Parses one line (a trailing "\n" or "\r\n" is allowed).
absl::StatusOr<ControlEvent> ParseControlLine(std::string_view line);

// Inverse of EncodeControlValue; error on a malformed %XX escape.
absl::StatusOr<std::string> DecodeControlValue(std::string_view encoded);

// Splits a COM2 byte stream into lines. Feed any chunking; complete lines
// come out in order. A line longer than kMaxControlLineBytes is cut there and
// returned (the parser then rejects it) so a guest cannot grow host memory.
class ControlLineSplitter {
 public:
  std::vector<std::string> Feed(std::string_view bytes);
  // Whatever is buffered without a newline yet.
  const std::string& pending() const { return pending_; }

 private:
  std::string pending_;
};

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_CONTROL_PROTOCOL_H_

// Writing side of the ktvm control protocol (guest init -> host over COM2).
// Deliberately free of Abseil so that the static guest init links with libc
// and libstdc++ only. The parser for the host side is in control_protocol.h.
// The protocol is documented in vmm/guest/README.md.
#ifndef KTVM_VMM_GUEST_CONTROL_FORMAT_H_
#define KTVM_VMM_GUEST_CONTROL_FORMAT_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ktvm::guest {

// Every control line starts with this word followed by one space.
inline constexpr std::string_view kControlPrefix = "KTVM";
// Lines longer than this (without the newline) are rejected by the parser.
inline constexpr size_t kMaxControlLineBytes = 4096;

// Event names, in the order an uneventful run sends them.
inline constexpr std::string_view kEventInitStarted = "init-started";
inline constexpr std::string_view kEventMountsDone = "mounts-done";
inline constexpr std::string_view kEventMountFailed = "mount-failed";
inline constexpr std::string_view kEventSchedulerStarted = "scheduler-started";
inline constexpr std::string_view kEventSchedulerEnabled = "scheduler-enabled";
inline constexpr std::string_view kEventSchedulerFailed = "scheduler-failed";
inline constexpr std::string_view kEventSchedulerExit = "scheduler-exit";
inline constexpr std::string_view kEventWorkloadStarted = "workload-started";
inline constexpr std::string_view kEventWorkloadExit = "workload-exit";
inline constexpr std::string_view kEventInitError = "init-error";
inline constexpr std::string_view kEventPoweroff = "poweroff";

using ControlField = std::pair<std::string_view, std::string>;

// Percent-encodes every byte that is not printable ASCII, plus ' ', '%' and
// '=', so a value never splits a line or a key=value pair.
std::string EncodeControlValue(std::string_view raw);

// Inverse of EncodeControlValue; false on a malformed %XX escape.
bool DecodeControlValueTo(std::string_view encoded, std::string* out);

// "KTVM <event> k1=v1 k2=v2\n", values encoded with EncodeControlValue.
std::string FormatControlLine(std::string_view event,
                              std::initializer_list<ControlField> fields = {});
std::string FormatControlLine(std::string_view event,
                              const std::vector<ControlField>& fields);

}  // namespace ktvm::guest

#endif  // KTVM_VMM_GUEST_CONTROL_FORMAT_H_

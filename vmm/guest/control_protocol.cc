#include "vmm/guest/control_protocol.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace ktvm::guest {
namespace {

struct NamedKind {
  std::string_view name;
  ControlEventKind kind;
};

constexpr std::array<NamedKind, 11> kKinds = {{
    {kEventInitStarted, ControlEventKind::kInitStarted},
    {kEventMountsDone, ControlEventKind::kMountsDone},
    {kEventMountFailed, ControlEventKind::kMountFailed},
    {kEventSchedulerStarted, ControlEventKind::kSchedulerStarted},
    {kEventSchedulerEnabled, ControlEventKind::kSchedulerEnabled},
    {kEventSchedulerFailed, ControlEventKind::kSchedulerFailed},
    {kEventSchedulerExit, ControlEventKind::kSchedulerExit},
    {kEventWorkloadStarted, ControlEventKind::kWorkloadStarted},
    {kEventWorkloadExit, ControlEventKind::kWorkloadExit},
    {kEventInitError, ControlEventKind::kInitError},
    {kEventPoweroff, ControlEventKind::kPoweroff},
}};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool IsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// Printable form of untrusted bytes for error messages.
std::string Quote(std::string_view s) {
  return absl::StrFormat("\"%s\"", EncodeControlValue(s.substr(0, 80)));
}

}  // namespace

std::optional<std::string> ControlEvent::Get(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return v;
  }
  return std::nullopt;
}

absl::StatusOr<int64_t> ControlEvent::GetInt(std::string_view key) const {
  std::optional<std::string> value = Get(key);
  if (!value.has_value()) {
    return absl::NotFoundError(
        absl::StrFormat("control event %s has no field %s", name, key));
  }
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("control event %s: field %s=%s is not an integer", name,
                        key, Quote(*value)));
  }
  return parsed;
}

absl::StatusOr<std::string> DecodeControlValue(std::string_view encoded) {
  std::string out;
  if (!DecodeControlValueTo(encoded, &out)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad or truncated %%XX escape in %s", Quote(encoded)));
  }
  return out;
}

absl::StatusOr<ControlEvent> ParseControlLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxControlLineBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("control line of %d bytes exceeds the %d-byte limit",
                        line.size(), kMaxControlLineBytes));
  }
  std::vector<std::string_view> words;
  for (absl::string_view w :
       absl::StrSplit(absl::string_view(line.data(), line.size()), ' ')) {
    words.emplace_back(w.data(), w.size());
  }
  if (words.size() < 2 || words[0] != kControlPrefix) {
    return absl::InvalidArgumentError(
        absl::StrFormat("not a control line (want \"%s <event> ...\"): %s",
                        kControlPrefix, Quote(line)));
  }
  ControlEvent event;
  if (!IsName(words[1])) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad control event name %s", Quote(words[1])));
  }
  event.name = std::string(words[1]);
  for (const NamedKind& k : kKinds) {
    if (k.name == event.name) event.kind = k.kind;
  }
  for (size_t i = 2; i < words.size(); ++i) {
    const std::string_view word = words[i];
    const size_t eq = word.find('=');
    if (eq == std::string_view::npos || !IsName(word.substr(0, eq))) {
      return absl::InvalidArgumentError(
          absl::StrFormat("control event %s: field %d is not key=value: %s",
                          event.name, i - 1, Quote(word)));
    }
    absl::StatusOr<std::string> value = DecodeControlValue(word.substr(eq + 1));
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("control event %s: field %s: %s", event.name,
                          word.substr(0, eq), value.status().message()));
    }
    event.fields.emplace_back(std::string(word.substr(0, eq)),
                              *std::move(value));
  }
  return event;
}

std::vector<std::string> ControlLineSplitter::Feed(std::string_view bytes) {
  std::vector<std::string> lines;
  for (char c : bytes) {
    if (c == '\n') {
      lines.push_back(std::move(pending_));
      pending_.clear();
      continue;
    }
    pending_.push_back(c);
    if (pending_.size() > kMaxControlLineBytes) {
      lines.push_back(std::move(pending_));
      pending_.clear();
    }
  }
  return lines;
}

}  // namespace ktvm::guest

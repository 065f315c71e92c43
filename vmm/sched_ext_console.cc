#include "vmm/sched_ext_console.h"

namespace ktvm::vmm {
namespace {

constexpr std::string_view kPrefix = "sched_ext: BPF scheduler \"";
constexpr std::string_view kDisabled = "\" disabled (";
constexpr std::string_view kCleanExit = "unregistered from user space";

}  // namespace

std::optional<std::string> SchedExtErrorReason(std::string_view line) {
  const size_t at = line.find(kPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t disabled = line.find(kDisabled, at + kPrefix.size());
  if (disabled == std::string_view::npos) return std::nullopt;
  const size_t start = disabled + kDisabled.size();
  const size_t end = line.rfind(')');
  if (end == std::string_view::npos || end < start) return std::nullopt;
  std::string reason(line.substr(start, end - start));
  if (reason == kCleanExit) return std::nullopt;
  return reason;
}

}  // namespace ktvm::vmm

// The kernel console (COM1) is raw guest bytes: a panicking kernel, a
// scheduler writing without newlines, line noise. The scanner gets them in
// whatever chunks the backend's reader thread happened to read, so the
// event it finds must not depend on the chunking: the input is fed once
// whole and once in chunks whose sizes the input's first byte picks, and
// both scanners must agree. KernelLogFromConsole and ClassifyConsoleLine see
// the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmm/dump/kernel_console.h"

namespace {

using ktvm::dump::ConsoleEvent;

// The scanner's line cap (kernel_console.cc) plus the event's own text.
constexpr size_t kMaxEventLine = 4096;

bool SameEvent(const std::optional<ConsoleEvent>& a,
               const std::optional<ConsoleEvent>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a.has_value()) return true;
  return a->kind == b->kind && a->line == b->line &&
         a->scx_kind == b->scx_kind && a->scx_reason == b->scx_reason &&
         a->scx_scheduler == b->scx_scheduler && a->scx_msg == b->scx_msg;
}

void CheckEvent(const std::optional<ConsoleEvent>& e) {
  if (!e.has_value()) return;
  if (e->line.size() > kMaxEventLine) __builtin_trap();
  if (e->kind == ktvm::report::TRIGGER_KIND_UNSPECIFIED) __builtin_trap();
  if (e->line.find('\n') != std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  ktvm::dump::ConsoleTriggerScanner whole;
  whole.Feed(text);

  ktvm::dump::ConsoleTriggerScanner chunked;
  uint32_t state = size > 0 ? data[0] : 0;
  for (size_t at = 0; at < text.size();) {
    state = state * 1103515245u + 12345u;
    // 0..63 bytes: empty chunks and single bytes (a split "\r\n", a
    // split timestamp) are what a serial reader delivers.
    const size_t len = std::min<size_t>((state >> 16) % 64, text.size() - at);
    chunked.Feed(text.substr(at, len));
    at += len;
  }
  if (!SameEvent(whole.first(), chunked.first())) __builtin_trap();
  if (!SameEvent(whole.first_scx_error(), chunked.first_scx_error())) {
    __builtin_trap();
  }
  CheckEvent(whole.first());
  CheckEvent(whole.first_scx_error());
  if (const auto scx = whole.first_scx_error();
      scx.has_value() && scx->scx_kind < ktvm::report::SCX_EXIT_ERROR) {
    __builtin_trap();  // a clean exit is not an error
  }

  const ktvm::report::KernelLog log = ktvm::dump::KernelLogFromConsole(text);
  size_t text_bytes = 0;
  for (const ktvm::report::KernelLogRecord& r : log.records()) {
    if (r.text().find('\n') != std::string::npos) __builtin_trap();
    text_bytes += r.text().size();
    (void)ktvm::dump::ClassifyConsoleLine(r.text());
  }
  if (text_bytes > text.size()) __builtin_trap();
  return 0;
}

// COM2 lines come from a guest we do not trust (a broken init, a kernel
// writing garbage to the port), and COM1 lines feed the sched_ext error
// detector: both parsers see raw guest bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmm/guest/control_protocol.h"
#include "vmm/sched_ext_console.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (auto event = ktvm::guest::ParseControlLine(line); event.ok()) {
      (void)event->Get("status");
      (void)event->GetInt("t_ms");
    }
    (void)ktvm::guest::DecodeControlValue(line);
    (void)ktvm::vmm::SchedExtErrorReason(line);
  }
  return 0;
}

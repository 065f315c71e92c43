// A synchronous client for QEMU's QMP (JSON lines over a stream socket).
// Asynchronous events that arrive while waiting for a reply are kept and can
// be taken with TakeEvents().
#ifndef KTVM_VMM_BACKEND_QMP_CLIENT_H_
#define KTVM_VMM_BACKEND_QMP_CLIENT_H_

#include <google/protobuf/struct.pb.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmm/backend/unique_fd.h"

namespace ktvm::backend {

// Quotes a string as a JSON string literal.
std::string JsonQuote(std::string_view s);

class QmpClient {
 public:
  // Reads the greeting and negotiates capabilities on a connected socket.
  static absl::StatusOr<QmpClient> Connect(UniqueFd fd, absl::Duration timeout);

  // Runs `command` with `arguments_json` (a JSON object, or empty) and
  // returns the "return" value; QMP "error" replies become errors that
  // carry QEMU's description.
  absl::StatusOr<google::protobuf::Value> Execute(
      std::string_view command, std::string_view arguments_json = "",
      absl::Duration timeout = absl::Seconds(10));
  // "human-monitor-command": the monitor's text output.
  absl::StatusOr<std::string> HumanMonitorCommand(std::string_view line);

  // Reads whatever QEMU already sent without blocking (events).
  void PollEvents();
  std::vector<google::protobuf::Struct> TakeEvents();

 private:
  explicit QmpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  // One JSON object per line; parse errors are reported with the line.
  absl::StatusOr<google::protobuf::Struct> ReadMessage(absl::Time deadline);

  UniqueFd fd_;
  std::string buffer_;
  std::vector<google::protobuf::Struct> events_;
};

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_QMP_CLIENT_H_

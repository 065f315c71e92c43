#include "vmm/backend/qmp_client.h"

#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::backend {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrFormat("writing to QMP failed: %s", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string Truncated(const std::string& s) {
  return s.size() <= 200 ? s : s.substr(0, 200) + "...";
}

}  // namespace

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

absl::StatusOr<QmpClient> QmpClient::Connect(UniqueFd fd,
                                             absl::Duration timeout) {
  QmpClient client(std::move(fd));
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<Struct> greeting = client.ReadMessage(deadline);
  if (!greeting.ok()) {
    return absl::UnavailableError(absl::StrFormat(
        "no QMP greeting from QEMU: %s", greeting.status().message()));
  }
  if (!greeting->fields().contains("QMP")) {
    return absl::UnavailableError("QMP greeting lacks the \"QMP\" member");
  }
  absl::StatusOr<Value> caps = client.Execute(
      "qmp_capabilities", "",
      absl::Now() < deadline ? deadline - absl::Now() : absl::Seconds(1));
  if (!caps.ok()) return caps.status();
  return client;
}

absl::StatusOr<Struct> QmpClient::ReadMessage(absl::Time deadline) {
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      Struct msg;
      const auto status = google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(line.data(), line.size()), &msg);
      if (!status.ok()) {
        return absl::DataLossError(absl::StrFormat(
            "bad JSON from QMP (%s): %s", status.ToString(), Truncated(line)));
      }
      return msg;
    }
    // Poll at least once even past the deadline so PollEvents() sees data
    // that is already waiting.
    const absl::Duration left = deadline - absl::Now();
    const int wait_ms =
        left <= absl::ZeroDuration()
            ? 0
            : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    pollfd pfd{fd_.get(), POLLIN, 0};
    const int rc = poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      return absl::InternalError(
          absl::StrFormat("poll on QMP failed: %s", std::strerror(errno)));
    }
    if (rc == 0) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError("timed out waiting for QMP");
      }
      continue;
    }
    char buf[65536];
    const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError("QMP connection closed by QEMU");
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<Value> QmpClient::Execute(std::string_view command,
                                         std::string_view arguments_json,
                                         absl::Duration timeout) {
  std::string request =
      absl::StrCat("{\"execute\":", JsonQuote(std::string(command)));
  if (!arguments_json.empty()) {
    absl::StrAppend(&request, ",\"arguments\":", std::string(arguments_json));
  }
  absl::StrAppend(&request, "}\n");
  if (absl::Status s = WriteAll(fd_.get(), request); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<Struct> msg = ReadMessage(deadline);
    if (!msg.ok()) {
      return absl::Status(msg.status().code(),
                          absl::StrFormat("QMP %s: %s", std::string(command),
                                          msg.status().message()));
    }
    const auto& fields = msg->fields();
    if (auto it = fields.find("return"); it != fields.end()) {
      return it->second;
    }
    if (auto it = fields.find("error"); it != fields.end()) {
      std::string desc = "unknown error";
      const auto& err = it->second.struct_value().fields();
      if (auto d = err.find("desc"); d != err.end()) {
        desc = d->second.string_value();
      }
      return absl::FailedPreconditionError(
          absl::StrFormat("QMP %s failed: %s", std::string(command), desc));
    }
    if (fields.contains("event")) events_.push_back(*std::move(msg));
  }
}

absl::StatusOr<std::string> QmpClient::HumanMonitorCommand(
    std::string_view line) {
  absl::StatusOr<Value> v =
      Execute("human-monitor-command",
              absl::StrCat("{\"command-line\":", JsonQuote(line), "}"));
  if (!v.ok()) return v.status();
  if (v->kind_case() != Value::kStringValue) {
    return absl::DataLossError(
        absl::StrFormat("human-monitor-command \"%s\" returned a non-string",
                        std::string(line)));
  }
  return v->string_value();
}

void QmpClient::PollEvents() {
  for (;;) {
    absl::StatusOr<Struct> msg = ReadMessage(absl::Now());
    if (!msg.ok()) return;
    if (msg->fields().contains("event")) events_.push_back(*std::move(msg));
  }
}

std::vector<Struct> QmpClient::TakeEvents() {
  std::vector<Struct> out = std::move(events_);
  events_.clear();
  return out;
}

}  // namespace ktvm::backend

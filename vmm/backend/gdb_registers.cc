#include "vmm/backend/gdb_registers.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::backend {
namespace {

constexpr absl::Duration kReplyTimeout = absl::Seconds(5);

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Little-endian value of `bytes` bytes at byte offset `off` of the hex text.
bool LoadLe(std::string_view hex, size_t off, size_t bytes, uint64_t* out) {
  if ((off + bytes) * 2 > hex.size()) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) {
    const int hi = HexDigit(hex[(off + i) * 2]);
    const int lo = HexDigit(hex[(off + i) * 2 + 1]);
    if (hi < 0 || lo < 0) return false;
    v |= static_cast<uint64_t>(hi << 4 | lo) << (8 * i);
  }
  *out = v;
  return true;
}

}  // namespace

std::string GdbFramePacket(std::string_view payload) {
  unsigned sum = 0;
  for (unsigned char c : payload) sum += c;
  return absl::StrFormat("$%s#%02x", std::string(payload), sum & 0xff);
}

absl::StatusOr<GdbX86Registers> DecodeGdbX86Registers(std::string_view hex) {
  // Up to and including EFER: 16*8 + 8 + 4 + 6*4 + 3*8 + 5*8 + 8 = 236.
  constexpr size_t kNeeded = 236;
  if (hex.size() < kNeeded * 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gdb 'g' reply has %d hex digits; x86_64 needs at least %d", hex.size(),
        kNeeded * 2));
  }
  GdbX86Registers r{};
  size_t off = 0;
  uint64_t v = 0;
  auto take = [&](size_t bytes, auto* field) {
    if (!LoadLe(hex, off, bytes, &v)) return false;
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(v);
    off += bytes;
    return true;
  };
  bool ok = true;
  for (uint64_t& g : r.gpr) ok &= take(8, &g);
  ok &= take(8, &r.rip);
  ok &= take(4, &r.eflags);
  for (uint32_t& s : r.seg) ok &= take(4, &s);
  ok &= take(8, &r.fs_base);
  ok &= take(8, &r.gs_base);
  ok &= take(8, &r.kernel_gs_base);
  ok &= take(8, &r.cr0);
  ok &= take(8, &r.cr2);
  ok &= take(8, &r.cr3);
  ok &= take(8, &r.cr4);
  ok &= take(8, &r.cr8);
  ok &= take(8, &r.efer);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gdb 'g' reply has a non-hex digit before byte %d", off + 8));
  }
  return r;
}

absl::StatusOr<GdbRegisterClient> GdbRegisterClient::Connect(
    const std::string& path, absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("gdb socket path %s is too long", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
        0) {
      GdbRegisterClient client(std::move(fd));
      // Plain thread ids (no multiprocess extension).
      absl::StatusOr<std::string> r = client.Transact("qSupported");
      if (!r.ok()) return r.status();
      return client;
    }
    if (absl::Now() > deadline) {
      return absl::UnavailableError(
          absl::StrFormat("cannot connect to QEMU's gdbstub at %s: %s", path,
                          std::strerror(errno)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::StatusOr<std::string> GdbRegisterClient::ReadPacket(absl::Time deadline) {
  for (;;) {
    // Drop acks and anything before the next '$'.
    const size_t start = buffer_.find('$');
    if (start != std::string::npos) {
      const size_t hash = buffer_.find('#', start);
      if (hash != std::string::npos && hash + 2 < buffer_.size()) {
        std::string payload = buffer_.substr(start + 1, hash - start - 1);
        buffer_.erase(0, hash + 3);
        if (send(fd_.get(), "+", 1, MSG_NOSIGNAL) != 1) {
          return absl::UnavailableError("gdbstub connection lost");
        }
        return payload;
      }
    } else {
      buffer_.clear();
    }
    const int wait_ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    pollfd pfd{fd_.get(), POLLIN, 0};
    const int rc = poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      return absl::DeadlineExceededError("no reply from QEMU's gdbstub");
    }
    char buf[8192];
    const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
    if (n <= 0) return absl::UnavailableError("gdbstub connection closed");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> GdbRegisterClient::Transact(
    std::string_view payload, bool skip_stop_replies) {
  const std::string packet = GdbFramePacket(payload);
  if (send(fd_.get(), packet.data(), packet.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(packet.size())) {
    return absl::UnavailableError("writing to QEMU's gdbstub failed");
  }
  const absl::Time deadline = absl::Now() + kReplyTimeout;
  for (;;) {
    absl::StatusOr<std::string> reply = ReadPacket(deadline);
    if (!reply.ok()) return reply.status();
    if (skip_stop_replies && !reply->empty() &&
        ((*reply)[0] == 'T' || (*reply)[0] == 'S') && payload != "?") {
      continue;
    }
    return reply;
  }
}

absl::StatusOr<std::vector<std::string>> GdbRegisterClient::Threads() {
  std::vector<std::string> threads;
  absl::StatusOr<std::string> reply = Transact("qfThreadInfo");
  for (int guard = 0; guard < 4096; ++guard) {
    if (!reply.ok()) return reply.status();
    if (reply->empty() || (*reply)[0] != 'm') break;  // 'l' ends the list
    size_t pos = 1;
    while (pos < reply->size()) {
      const size_t comma = reply->find(',', pos);
      threads.push_back(reply->substr(
          pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    reply = Transact("qsThreadInfo");
  }
  if (threads.empty()) {
    return absl::DataLossError("QEMU's gdbstub listed no threads");
  }
  return threads;
}

absl::StatusOr<GdbX86Registers> GdbRegisterClient::ReadRegisters(
    std::string_view thread) {
  absl::StatusOr<std::string> sel =
      Transact(absl::StrFormat("Hg%s", std::string(thread)));
  if (!sel.ok()) return sel.status();
  if (*sel != "OK") {
    return absl::NotFoundError(absl::StrFormat("gdbstub refused thread %s: %s",
                                               std::string(thread), *sel));
  }
  absl::StatusOr<std::string> regs = Transact("g");
  if (!regs.ok()) return regs.status();
  if (!regs->empty() && (*regs)[0] == 'E') {
    return absl::DataLossError(absl::StrFormat(
        "gdbstub 'g' for thread %s failed: %s", std::string(thread), *regs));
  }
  return DecodeGdbX86Registers(*regs);
}

}  // namespace ktvm::backend

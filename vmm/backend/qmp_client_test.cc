// QmpClient against scripted replies on a socketpair: events interleaved
// with replies, QMP errors, garbage, a closed connection and silence each
// give the documented result (the real QEMU path is covered by tests/e2e).
#include "vmm/backend/qmp_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace ktvm::backend {
namespace {

struct Pair {
  UniqueFd client;
  UniqueFd server;
};

Pair MakePair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void Send(const UniqueFd& fd, const std::string& s) {
  ASSERT_EQ(write(fd.get(), s.data(), s.size()),
            static_cast<ssize_t>(s.size()));
}

// Reads one request line from the client.
std::string ReadRequest(const UniqueFd& fd) {
  std::string line;
  char c;
  while (read(fd.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

constexpr char kGreeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10}}, \"capabilities\": "
    "[]}}\n";

absl::StatusOr<QmpClient> Handshake(Pair& p) {
  std::thread server([&] {
    Send(p.server, kGreeting);
    EXPECT_EQ(ReadRequest(p.server), "{\"execute\":\"qmp_capabilities\"}");
    Send(p.server, "{\"return\": {}}\n");
  });
  auto client = QmpClient::Connect(std::move(p.client), absl::Seconds(5));
  server.join();
  return client;
}

TEST(QmpClientTest, RepliesEventsAndErrors) {
  Pair p = MakePair();
  auto client = Handshake(p);
  ASSERT_TRUE(client.ok()) << client.status();

  std::thread server([&] {
    EXPECT_EQ(ReadRequest(p.server), "{\"execute\":\"stop\"}");
    Send(p.server,
         "{\"timestamp\": {\"seconds\": 1}, \"event\": \"STOP\"}\r\n"
         "{\"return\": {}}\n");
    EXPECT_EQ(ReadRequest(p.server),
              "{\"execute\":\"human-monitor-command\",\"arguments\":{"
              "\"command-line\":\"info \\\"x\\\"\"}}");
    Send(p.server, "{\"return\": \"RIP=1\\r\\n\"}\n");
    ReadRequest(p.server);
    Send(p.server,
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such "
         "thing\"}}\n");
  });
  EXPECT_TRUE(client->Execute("stop").ok());
  auto hmp = client->HumanMonitorCommand("info \"x\"");
  ASSERT_TRUE(hmp.ok()) << hmp.status();
  EXPECT_EQ(*hmp, "RIP=1\r\n");
  auto bad = client->Execute("bogus");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no such thing"), std::string::npos);
  server.join();
  auto events = client->TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].fields().at("event").string_value(), "STOP");
  EXPECT_TRUE(client->TakeEvents().empty());
}

TEST(QmpClientTest, GarbageClosedAndSilentConnections) {
  {
    Pair p = MakePair();
    Send(p.server, "this is not json\n");
    auto c = QmpClient::Connect(std::move(p.client), absl::Seconds(2));
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("not json"), std::string::npos)
        << c.status();
  }
  {
    Pair p = MakePair();
    p.server.Reset();
    EXPECT_FALSE(
        QmpClient::Connect(std::move(p.client), absl::Seconds(2)).ok());
  }
  {
    Pair p = MakePair();
    auto c = QmpClient::Connect(std::move(p.client), absl::Milliseconds(100));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  }
  {
    Pair p = MakePair();
    auto client = Handshake(p);
    ASSERT_TRUE(client.ok());
    // A reply that never comes.
    auto r = client->Execute("stop", "", absl::Milliseconds(100));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
    // A reply whose "return" is not a string where one is needed.
    std::thread server([&] {
      ReadRequest(p.server);
      ReadRequest(p.server);
      Send(p.server, "{\"return\": 42}\n");
    });
    EXPECT_FALSE(client->HumanMonitorCommand("info registers").ok());
    server.join();
  }
}

TEST(QmpClientTest, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace ktvm::backend

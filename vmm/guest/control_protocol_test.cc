#include "vmm/guest/control_protocol.h"

#include <random>

#include "gtest/gtest.h"

namespace ktvm::guest {
namespace {

TEST(ControlProtocolTest, FormatThenParseRoundTrips) {
  const std::string line = FormatControlLine(
      kEventWorkloadExit,
      {{"status", "137"}, {"signal", "9"}, {"reason", "a b=c%d\n\x01\xff"}});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, always
  auto ev = ParseControlLine(line);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->kind, ControlEventKind::kWorkloadExit);
  EXPECT_EQ(ev->name, "workload-exit");
  EXPECT_EQ(ev->GetInt("status").value(), 137);
  EXPECT_EQ(ev->GetInt("signal").value(), 9);
  EXPECT_EQ(ev->Get("reason").value(), "a b=c%d\n\x01\xff");
  EXPECT_FALSE(ev->Get("missing").has_value());
  EXPECT_FALSE(ev->GetInt("missing").ok());
  EXPECT_FALSE(ev->GetInt("reason").ok());
}

TEST(ControlProtocolTest, ExactWireFormat) {
  EXPECT_EQ(FormatControlLine(kEventSchedulerStarted, {{"pid", "42"}}),
            "KTVM scheduler-started pid=42\n");
  EXPECT_EQ(FormatControlLine(kEventPoweroff), "KTVM poweroff\n");
  EXPECT_EQ(EncodeControlValue("a b"), "a%20b");
}

TEST(ControlProtocolTest, EveryKnownEventHasItsKind) {
  const std::pair<std::string_view, ControlEventKind> kinds[] = {
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
  };
  for (const auto& [name, kind] : kinds) {
    auto ev = ParseControlLine(FormatControlLine(name));
    ASSERT_TRUE(ev.ok()) << name;
    EXPECT_EQ(ev->kind, kind) << name;
  }
}

TEST(ControlProtocolTest, UnknownEventIsForwardCompatible) {
  auto ev = ParseControlLine("KTVM future-thing x=1\r\n");
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->kind, ControlEventKind::kUnknown);
  EXPECT_EQ(ev->name, "future-thing");
  EXPECT_EQ(ev->Get("x").value(), "1");
}

TEST(ControlProtocolTest, MalformedLinesAreErrors) {
  for (const char* bad :
       {"", "KTVM", "KTVM ", "ktvm init-started", "hello world",
        "KTVM Init-Started", "KTVM init-started novalue",
        "KTVM init-started =1", "KTVM init-started k=%4",
        "KTVM init-started k=%zz", "KTVM  init-started",
        "[    2.1] KTVM init-started"}) {
    EXPECT_FALSE(ParseControlLine(bad).ok()) << "accepted: " << bad;
  }
  EXPECT_FALSE(ParseControlLine(std::string(5000, 'a')).ok());
}

TEST(ControlProtocolTest, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    if (i % 3 == 0) s = "KTVM " + s;
    if (i % 5 == 0) s = "KTVM init-started " + s;
    auto ev = ParseControlLine(s);
    if (ev.ok()) ++accepted;
  }
  // Some "KTVM init-started <junk>" lines are well-formed by chance; most
  // garbage is not.
  EXPECT_LT(accepted, 20000);
}

TEST(ControlLineSplitterTest, SplitsAnyChunking) {
  const std::string stream =
      FormatControlLine(kEventInitStarted) +
      FormatControlLine(kEventSchedulerStarted, {{"pid", "7"}}) +
      "KTVM partial";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    ControlLineSplitter splitter;
    std::vector<std::string> lines;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      for (auto& l : splitter.Feed(std::string_view(stream).substr(i, chunk))) {
        lines.push_back(l);
      }
    }
    ASSERT_EQ(lines.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(lines[0], "KTVM init-started");
    EXPECT_EQ(lines[1], "KTVM scheduler-started pid=7");
    EXPECT_EQ(splitter.pending(), "KTVM partial");
  }
}

TEST(ControlLineSplitterTest, BoundsLongLines) {
  ControlLineSplitter splitter;
  auto lines = splitter.Feed(std::string(3 * kMaxControlLineBytes, 'x'));
  ASSERT_GE(lines.size(), 2u);
  for (const auto& l : lines) EXPECT_LE(l.size(), kMaxControlLineBytes + 1);
  EXPECT_LE(splitter.pending().size(), kMaxControlLineBytes);
}

}  // namespace
}  // namespace ktvm::guest

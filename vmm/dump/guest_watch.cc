#include "vmm/dump/guest_watch.h"

#include <cstdint>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "vmm/dump/report_summary.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dump {
namespace {

void WriteReport(ktvm::report::FailureDumpReport& report,
                 const WatchOptions& options, WatchResult& result) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> bytes =
      SerializeReport(report, ReportFormat::kBinary);
  const int64_t serialize_ns = absl::ToInt64Nanoseconds(absl::Now() - start);
  report.mutable_timings()->set_serialize_ns(serialize_ns);
  if (bytes.ok()) {
    // The serialisation time exists only once the bytes do. A parser merges
    // a message field that occurs twice, so a second `timings` record
    // carrying just serialize_ns completes the report without serialising
    // it again.
    ktvm::report::FailureDumpReport timing_tail;
    timing_tail.mutable_timings()->set_serialize_ns(serialize_ns);
    timing_tail.AppendToString(&*bytes);
  }
  // A later dump of this run (--resume_after_dump) replaces this run's own
  // report, wherever the first one had to go.
  const bool replace_own =
      !options.report_path.empty() && !result.report_path.empty();
  const std::string path = options.report_path.empty()
                               ? DefaultReportPath(ReportFormat::kBinary)
                           : replace_own ? result.report_path
                                         : options.report_path;
  const absl::Time keep_since =
      replace_own ? absl::InfiniteFuture() : options.keep_reports_since;
  absl::StatusOr<std::string> written =
      bytes.ok() ? WriteSerializedReportAtomically(*bytes, path, keep_since)
                 : bytes.status();
  if (written.ok()) {
    result.report_path = *written;
  } else {
    std::fprintf(stderr, "ktvm: error: writing the report: %s\n",
                 std::string(written.status().message()).c_str());
  }
  if (options.json) {
    // Next to the binary report actually written, so the pair stays
    // together when another run holds `path`.
    absl::StatusOr<std::string> json = WriteReportAtomically(
        report, (written.ok() ? *written : path) + ".json", ReportFormat::kJson,
        keep_since);
    if (json.ok()) {
      result.json_report_path = *json;
    } else {
      std::fprintf(stderr, "ktvm: error: writing the JSON report: %s\n",
                   std::string(json.status().message()).c_str());
    }
  }
  std::fprintf(stderr, "ktvm: ---- freeze-and-dump ----\n");
  const std::string summary = FormatReportSummary(report);
  for (absl::string_view line :
       absl::StrSplit(summary, '\n', absl::SkipEmpty())) {
    std::fprintf(stderr, "ktvm:   %.*s\n", static_cast<int>(line.size()),
                 line.data());
  }
  std::fprintf(
      stderr, "ktvm:   report    %s (%zu bytes)\n",
      result.report_path.empty() ? "(not written)" : result.report_path.c_str(),
      bytes.ok() ? bytes->size() : 0);
  if (!result.json_report_path.empty()) {
    std::fprintf(stderr, "ktvm:   json      %s\n",
                 result.json_report_path.c_str());
  }
}

// The report is built on an arena over the engine's pre-faulted block (see
// DumpEngine::DumpInto); the caller's copy is made after it is written.
void DumpOnArena(DumpEngine& engine, const DumpTrigger& trigger,
                 const WatchOptions& options, WatchResult& result) {
  google::protobuf::Arena arena(engine.ReportArenaOptions());
  auto* report =
      google::protobuf::Arena::CreateMessage<ktvm::report::FailureDumpReport>(
          &arena);
  engine.DumpInto(trigger, *report);
  WriteReport(*report, options, result);
  result.report = *report;
}

}  // namespace

WatchResult WatchGuest(backend::Backend& guest, DumpEngine* engine,
                       const WatchOptions& options) {
  WatchResult result;
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  bool dumped = false;
  absl::Time last_clear_poll = absl::InfinitePast();
  while (true) {
    absl::StatusOr<backend::GuestExit> exit =
        guest.WaitForExit(absl::ZeroDuration());
    if (exit.ok() || !absl::IsDeadlineExceeded(exit.status())) {
      // A panic with an immediate reset can end the guest between two
      // polls: the console and guest memory still say so, so the report is
      // written anyway (without what only a live guest can give).
      if (engine != nullptr && !dumped) {
        if (std::optional<DumpTrigger> late = engine->PollAfterExit()) {
          DumpOnArena(*engine, *late, options, result);
        }
      }
      result.exit = std::move(exit);
      return result;
    }
    const absl::Time now = absl::Now();
    const int signo =
        options.manual_signal != nullptr ? options.manual_signal->load() : 0;
    std::optional<DumpTrigger> trigger;
    if (signo != 0) {
      trigger = DumpTrigger{ktvm::report::TRIGGER_KIND_MANUAL,
                            absl::StrFormat("signal %d to ktvm", signo),
                            "signal", now};
    } else if (now >= deadline) {
      trigger =
          DumpTrigger{ktvm::report::TRIGGER_KIND_TIMEOUT,
                      absl::StrFormat("guest still running after --timeout %s",
                                      absl::FormatDuration(options.timeout)),
                      "timeout", now};
    } else if (engine != nullptr && !dumped) {
      trigger = engine->Poll();
      if (trigger.has_value()) {
        trigger->last_clear_poll = last_clear_poll;
      } else {
        last_clear_poll = now;
      }
    }
    if (trigger.has_value()) {
      const bool ends_run =
          trigger->kind == ktvm::report::TRIGGER_KIND_MANUAL ||
          trigger->kind == ktvm::report::TRIGGER_KIND_TIMEOUT;
      if (engine != nullptr && !dumped) {
        dumped = true;
        DumpOnArena(*engine, *trigger, options, result);
      }
      if (ends_run || !options.resume_after_dump) {
        (void)guest.Stop();
        if (trigger->kind == ktvm::report::TRIGGER_KIND_TIMEOUT) {
          result.exit = absl::DeadlineExceededError(trigger->summary);
        } else {
          result.exit =
              backend::GuestExit{backend::GuestExit::Reason::kStopped,
                                 "stopped after the dump: " + trigger->summary};
        }
        return result;
      }
      if (absl::Status s = guest.Resume(); !s.ok()) {
        result.exit = s;
        return result;
      }
    }
    absl::SleepFor(options.poll_interval);
  }
}

}  // namespace ktvm::dump

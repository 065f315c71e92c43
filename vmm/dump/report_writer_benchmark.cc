// Cost of getting a report onto disk and back, by size and format. Run:
//   bazel run -c opt //vmm/dump:report_writer_benchmark
// The dump's `serialize` phase is SerializeReport + WriteReportAtomically;
// arena pages dominate large reports, and JSON base64-encodes them.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dump {
namespace {

using ktvm::report::FailureDumpReport;

// A report with `arena_mib` MiB of arena pages, 2000 log records and 4096
// rendered sdt entries: the shape of a real dump at that size.
FailureDumpReport MakeReport(int arena_mib) {
  FailureDumpReport r;
  r.mutable_header()->set_format_version(ktvm::report::FORMAT_VERSION_1);
  auto* arena = r.add_bpf_maps()->mutable_arena();
  for (int page = 0; page < arena_mib * 256; ++page) {
    auto* p = arena->add_pages();
    p->set_user_addr(page * 4096ull);
    p->set_data(std::string(4096, static_cast<char>(page)));
  }
  for (int i = 0; i < 2000; ++i) {
    auto* rec = r.mutable_kernel_log()->add_records();
    rec->set_sequence(i);
    rec->set_text(absl::StrCat("sched_ext: record ", i, " of a kernel log"));
  }
  auto* sdt = r.add_sdt_allocators();
  for (int i = 0; i < 4096; ++i) {
    auto* e = sdt->add_entries();
    e->set_idx(i);
    auto* s = e->mutable_payload()->mutable_struct_value();
    for (const char* name : {"pid", "magic", "counter"}) {
      auto* m = s->add_members();
      m->set_name(name);
      m->mutable_value()->set_uint_value(i);
    }
  }
  return r;
}

std::string BenchDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

void BM_Serialize(benchmark::State& state, ReportFormat format) {
  FailureDumpReport r = MakeReport(state.range(0));
  size_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::string> s = SerializeReport(r, format);
    bytes = s->size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["report_MiB"] = bytes / 1048576.0;
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK_CAPTURE(BM_Serialize, binary, ReportFormat::kBinary)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Serialize, json, ReportFormat::kJson)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);

// Includes both fsyncs: what a user waits for after the freeze.
void BM_WriteAtomically(benchmark::State& state, ReportFormat format) {
  FailureDumpReport r = MakeReport(state.range(0));
  std::string path =
      absl::StrCat(BenchDir(), "/bench-", getpid(), ".ktvm-dump");
  for (auto _ : state) {
    benchmark::DoNotOptimize(WriteReportAtomically(r, path, format));
  }
  unlink(path.c_str());
}
BENCHMARK_CAPTURE(BM_WriteAtomically, binary, ReportFormat::kBinary)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_WriteAtomically, json, ReportFormat::kJson)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);

void BM_Read(benchmark::State& state, ReportFormat format) {
  std::string path =
      absl::StrCat(BenchDir(), "/bench-read-", getpid(), ".ktvm-dump");
  if (!WriteReportAtomically(MakeReport(state.range(0)), path, format).ok()) {
    state.SkipWithError("write failed");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(ReadReport(path));
  unlink(path.c_str());
}
BENCHMARK_CAPTURE(BM_Read, binary, ReportFormat::kBinary)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Read, json, ReportFormat::kJson)
    ->Arg(1)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ktvm::dump

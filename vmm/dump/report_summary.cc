#include "vmm/dump/report_summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::dump {
namespace {

constexpr int kBacktraceLines = 8;

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

std::string FormatReportSummary(const ktvm::report::FailureDumpReport& r) {
  std::string out;
  absl::StrAppendFormat(&out, "trigger   %s: %s (%s)\n",
                        ktvm::report::TriggerKind_Name(r.trigger().kind()),
                        r.trigger().summary(), r.trigger().detector());
  if (!r.header().kernel_release().empty()) {
    absl::StrAppendFormat(&out, "kernel    %s, KASLR offset 0x%x\n",
                          r.header().kernel_release(),
                          r.guest_layout().kaslr_offset());
  }
  if (r.has_scx_exit()) {
    const ktvm::report::SchedExtExitInfo& e = r.scx_exit();
    absl::StrAppendFormat(
        &out, "scx exit  %s (%d) scheduler \"%s\" reason \"%s\"%s\n",
        e.kind_name(), e.kind_value(), e.scheduler_name(), e.reason(),
        e.complete() ? "" : " [incomplete]");
    if (!e.msg().empty())
      absl::StrAppendFormat(&out, "msg       %s\n", e.msg());
    const int frames = std::min(e.backtrace_size(), kBacktraceLines);
    for (int i = 0; i < frames; ++i) {
      const ktvm::report::BacktraceFrame& f = e.backtrace(i);
      if (f.symbol().empty()) {
        absl::StrAppendFormat(&out, "  #%d 0x%x\n", i, f.address());
      } else {
        absl::StrAppendFormat(
            &out, "  #%d %s+0x%x/0x%x%s\n", i, f.symbol(), f.offset(),
            f.symbol_size(),
            f.module().empty() ? "" : absl::StrCat(" [", f.module(), "]"));
      }
    }
    if (e.backtrace_size() > frames) {
      absl::StrAppendFormat(&out, "  ... %d more frames\n",
                            e.backtrace_size() - frames);
    }
  }
  for (const ktvm::report::VcpuState& v : r.vcpus()) {
    absl::StrAppendFormat(&out, "vcpu %-4d %s rip %s\n", v.index(),
                          v.parked() ? "parked" : "NOT PARKED",
                          v.ip_symbol().empty()
                              ? absl::StrFormat("0x%x", v.x86_64().rip())
                              : v.ip_symbol());
  }
  for (const ktvm::report::CpuRunQueue& q : r.run_queues()) {
    absl::StrAppendFormat(&out,
                          "cpu %-5d nr_running %d scx %d local_dsq %d "
                          "curr %s[%d]\n",
                          q.cpu(), q.nr_running(), q.scx_nr_running(),
                          q.scx_local_dsq_nr(), q.curr_comm(), q.curr_pid());
  }
  absl::StrAppendFormat(
      &out,
      "contents  %d kernel log records, %d BPF maps, %d sdt allocators, "
      "%d diagnostics\n",
      r.kernel_log().records_size(), r.bpf_maps_size(), r.sdt_allocators_size(),
      r.diagnostics_size());
  for (const ktvm::report::Diagnostic& d : r.diagnostics()) {
    absl::StrAppendFormat(&out, "  ! %s: %s\n", d.subject(), d.reason());
  }
  const ktvm::report::Timings& t = r.timings();
  absl::StrAppendFormat(&out,
                        "timings   detected within %.2f ms, freeze latency "
                        "%.2f ms, dump %.1f ms (bootstrap %.1f, maps %.1f)\n",
                        Ms(t.detection_window_ns()), Ms(t.freeze_latency_ns()),
                        Ms(t.dump_finished_ns() - t.frozen_ns()),
                        Ms(t.bootstrap_ns()), Ms(t.maps_ns()));
  if (t.kernel_ready_ns() > 0) {
    // Memory detection starts here: an earlier event is console-only.
    absl::StrAppendFormat(
        &out,
        "bootstrap kernel view ready at %.3f s (built in %.1f ms), "
        "trigger at %.3f s\n",
        Ms(t.kernel_ready_ns()) / 1000, Ms(t.kernel_bootstrap_ns()),
        Ms(t.detected_ns()) / 1000);
  }
  return out;
}

}  // namespace ktvm::dump

#include "vmm/dump/run_queues.h"

#include "absl/strings/str_format.h"

namespace ktvm::dump {
namespace {

// Above any x86 NR_CPUS a distribution ships; more means nr_cpu_ids is junk.
constexpr uint32_t kMaxCpus = 8192;

struct RqLayout {
  uint64_t nr_running, scx_nr_running, scx_local_nr, curr, clock;
  uint64_t task_pid, task_comm;
};

absl::StatusOr<RqLayout> ResolveLayout(const GuestKernel& k) {
  RqLayout l{};
  if (absl::Status s = k.ResolveOffsets({
          {&l.nr_running, "rq", "nr_running"},
          {&l.scx_nr_running, "rq", "scx.nr_running"},
          {&l.scx_local_nr, "rq", "scx.local_dsq.nr"},
          {&l.curr, "rq", "curr"},
          {&l.clock, "rq", "clock"},
          {&l.task_pid, "task_struct", "pid"},
          {&l.task_comm, "task_struct", "comm"},
      });
      !s.ok()) {
    return s;
  }
  return l;
}

ktvm::report::Diagnostic Problem(uint32_t cpu, const absl::Status& status) {
  ktvm::report::Diagnostic d;
  d.set_subject(absl::StrFormat("run_queues[%d]", cpu));
  d.set_reason(std::string(status.message()));
  d.set_severity(ktvm::report::Diagnostic::SEVERITY_WARNING);
  return d;
}

}  // namespace

absl::StatusOr<std::vector<ktvm::report::CpuRunQueue>> ReadRunQueues(
    const GuestKernel& k, std::vector<ktvm::report::Diagnostic>& diagnostics) {
  absl::StatusOr<RqLayout> layout = ResolveLayout(k);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<uint64_t> runqueues = k.Symbol("runqueues");
  if (!runqueues.ok()) return runqueues.status();
  absl::StatusOr<uint64_t> offsets = k.Symbol("__per_cpu_offset");
  if (!offsets.ok()) return offsets.status();
  absl::StatusOr<uint64_t> nr_cpu_ids_va = k.Symbol("nr_cpu_ids");
  if (!nr_cpu_ids_va.ok()) return nr_cpu_ids_va.status();
  absl::StatusOr<uint32_t> nr_cpu_ids = k.ReadU32(*nr_cpu_ids_va);
  if (!nr_cpu_ids.ok()) return nr_cpu_ids.status();
  if (*nr_cpu_ids == 0 || *nr_cpu_ids > kMaxCpus) {
    return absl::DataLossError(
        absl::StrFormat("nr_cpu_ids = %d is implausible", *nr_cpu_ids));
  }
  const RqLayout& l = *layout;
  std::vector<ktvm::report::CpuRunQueue> out;
  for (uint32_t cpu = 0; cpu < *nr_cpu_ids; ++cpu) {
    absl::StatusOr<uint64_t> offset = k.ReadU64(*offsets + 8 * cpu);
    if (!offset.ok()) {
      diagnostics.push_back(Problem(cpu, offset.status()));
      continue;
    }
    const uint64_t rq = *runqueues + *offset;
    absl::StatusOr<uint32_t> nr = k.ReadU32(rq + l.nr_running);
    absl::StatusOr<uint32_t> scx_nr = k.ReadU32(rq + l.scx_nr_running);
    absl::StatusOr<uint32_t> local_nr = k.ReadU32(rq + l.scx_local_nr);
    absl::StatusOr<uint64_t> curr = k.ReadU64(rq + l.curr);
    absl::StatusOr<uint64_t> clock = k.ReadU64(rq + l.clock);
    for (const absl::Status& s :
         {nr.status(), scx_nr.status(), local_nr.status(), curr.status(),
          clock.status()}) {
      if (!s.ok()) {
        diagnostics.push_back(Problem(cpu, s));
        break;
      }
    }
    if (!nr.ok() || !scx_nr.ok() || !local_nr.ok() || !curr.ok() || !clock.ok())
      continue;
    ktvm::report::CpuRunQueue& q = out.emplace_back();
    q.set_cpu(cpu);
    q.set_nr_running(*nr);
    q.set_scx_nr_running(*scx_nr);
    q.set_scx_local_dsq_nr(*local_nr);
    q.set_clock_ns(*clock);
    if (*curr != 0) {
      absl::StatusOr<uint32_t> pid = k.ReadU32(*curr + l.task_pid);
      absl::StatusOr<std::string> comm = k.ReadCString(*curr + l.task_comm, 16);
      if (pid.ok()) q.set_curr_pid(static_cast<int32_t>(*pid));
      if (comm.ok()) q.set_curr_comm(*comm);
      if (!pid.ok() || !comm.ok()) {
        diagnostics.push_back(
            Problem(cpu, absl::DataLossError(absl::StrFormat(
                             "rq->curr 0x%x: task unreadable", *curr))));
      }
    }
  }
  return out;
}

}  // namespace ktvm::dump

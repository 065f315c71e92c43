// Writes a realistic FailureDumpReport (what an ERROR_BPF failure of
// tests/schedulers/ktvm_fifo on a 2-vCPU QEMU TCG guest produces) through
// the real report writer, in binary and JSON, for dumpview's and the Python
// consumer's tests. Usage: make_fixture OUT.ktvm-dump OUT.ktvm-dump.json
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dumpview {
namespace {

using namespace ktvm::report;  // NOLINT: a fixture names many messages.

constexpr uint32_t kTaskMagic = 0xfeedc0de;
constexpr uint64_t kKaslr = 0x1e000000;

RenderedValue Uint(const std::string& type, uint64_t v) {
  RenderedValue r;
  r.set_type_name(type);
  r.set_uint_value(v);
  return r;
}

RenderedValue Int(const std::string& type, int64_t v) {
  RenderedValue r;
  r.set_type_name(type);
  r.set_int_value(v);
  return r;
}

void AddMember(RenderedValue* s, const std::string& name, RenderedValue v) {
  RenderedMember* m = s->mutable_struct_value()->add_members();
  m->set_name(name);
  *m->mutable_value() = std::move(v);
}

RenderedValue TaskCtx(int pid, uint64_t counter) {
  RenderedValue v;
  v.set_type_name("struct ktvm_task_ctx");
  AddMember(&v, "pid", Int("int", pid));
  AddMember(&v, "magic", Uint("unsigned int", kTaskMagic));
  AddMember(&v, "counter", Uint("unsigned long long", counter));
  return v;
}

void FillHeader(FailureDumpReport* r) {
  ReportHeader* h = r->mutable_header();
  h->set_format_version(FORMAT_VERSION_1);
  h->set_ktvm_version("0.1.0-fixture");
  h->set_wall_time_unix_ns(1795921445123456789);  // 2026-11-29 03:04:05 UTC
  h->set_host_name("ci-runner-7");
  h->set_host_kernel("6.1.0-27-amd64");
  h->set_backend(BACKEND_QEMU_TCG);
  h->set_backend_reason("KVM only emulates here (kvm_pvm)");
  h->set_kernel_release("7.0.4+deb14-amd64");
  for (const char* arg : {"ktvm", "--scheduler", "ktvm_fifo", "--mode=error"}) {
    h->add_command_line(arg);
  }
  h->set_kernel_path(".cache/kernel/vmlinuz");
  h->set_kernel_sha256(std::string(64, 'a'));
  h->set_scheduler_path("tests/schedulers/ktvm_fifo");
  h->set_vcpu_count(2);
  h->set_memory_bytes(uint64_t{512} << 20);
  h->set_guest_command_line("console=ttyS0 panic=-1 quiet");
  h->set_arch(ARCH_X86_64);
}

void FillTriggerAndTimings(FailureDumpReport* r) {
  Trigger* t = r->mutable_trigger();
  t->set_kind(TRIGGER_KIND_SCHED_EXT_ERROR);
  t->set_summary("scx_root->exit_kind = 1025 (ERROR_BPF)");
  t->set_detected_ns(9'412'000'000);
  t->set_frozen_ns(9'413'250'000);
  t->set_detector("memory-poll");
  Timings* tm = r->mutable_timings();
  tm->set_vm_started_ns(41'000'000);
  tm->set_guest_init_ns(3'412'000'000);
  tm->set_scheduler_enabled_ns(5'120'000'000);
  tm->set_detected_ns(t->detected_ns());
  tm->set_frozen_ns(t->frozen_ns());
  tm->set_dump_finished_ns(9'480'000'000);
  tm->set_bootstrap_ns(31'000'000);
  tm->set_maps_ns(12'000'000);
  tm->set_arena_ns(9'000'000);
  tm->set_sdt_ns(4'000'000);
  tm->set_serialize_ns(2'000'000);
  tm->set_freeze_latency_ns(1'250'000);
}

void FillVcpus(FailureDumpReport* r) {
  for (uint32_t i = 0; i < 2; ++i) {
    VcpuState* v = r->add_vcpus();
    v->set_index(i);
    v->set_parked(true);
    X86Registers* x = v->mutable_x86_64();
    x->set_rip(0xffffffff81c3a2be + kKaslr + i * 0x10);
    x->set_rsp(0xffffc90000083e98 + i * 0x4000);
    x->set_rax(i);
    x->set_rflags(0x246);
    x->mutable_cs()->set_selector(0x10);
    x->mutable_ss()->set_selector(0x18);
    x->set_cr0(0x80050033);
    x->set_cr3(0x2a0c000);
    x->set_cr4(0x3506f0);
    x->set_efer(0xd01);
    x->set_gs_base(0xffff88801f400000 + i * 0x200000);
    x->set_lstar(0xffffffff82000080 + kKaslr);
    x->set_apic_id(i);
    v->set_ip_symbol(i == 0 ? "pv_native_safe_halt+0xe"
                            : "scx_bpf_error_bstr+0x5c");
  }
}

void FillScxExit(FailureDumpReport* r) {
  SchedExtExitInfo* e = r->mutable_scx_exit();
  e->set_kind_value(SCX_EXIT_ERROR_BPF);
  e->set_kind(SCX_EXIT_ERROR_BPF);
  e->set_kind_name("ERROR_BPF");
  e->set_exit_code(0);
  e->set_reason("scx_bpf_error");
  e->set_msg("ktvm_fifo: error after 1000 enqueues (pid 77)");
  e->set_scheduler_name("ktvm_fifo");
  e->set_complete(true);
  const struct {
    const char* symbol;
    uint64_t offset, size;
  } frames[] = {
      {"scx_bpf_error_bstr", 0x5c, 0xa0},
      {"bpf_prog_6deef7357e7b4530_ktvm_enqueue", 0x1a4, 0x2c0},
      {"do_enqueue_task", 0x2f1, 0x620},
      {"enqueue_task_scx", 0x19b, 0x3f0},
  };
  uint64_t base = 0xffffffff81300000 + kKaslr;
  for (const auto& f : frames) {
    BacktraceFrame* b = e->add_backtrace();
    b->set_symbol(f.symbol);
    b->set_offset(f.offset);
    b->set_symbol_size(f.size);
    b->set_address(base + f.offset);
    base += 0x1000;
  }
  e->set_dump(
      "ktvm_fifo[77] triggered exit kind 1025:\n  runnable task stall\n");
}

void FillLog(FailureDumpReport* r) {
  KernelLog* log = r->mutable_kernel_log();
  log->set_source("printk_ringbuffer");
  log->set_dropped(812);
  const struct {
    uint64_t ns;
    uint32_t level;
    const char* text;
  } records[] = {
      {5'118'402'113, 6, "sched_ext: BPF scheduler \"ktvm_fifo\" enabled"},
      {9'410'877'201, 3,
       "sched_ext: BPF scheduler \"ktvm_fifo\" disabled (scx_bpf_error)"},
      {9'410'877'950, 3, "sched_ext: ktvm_fifo: error after 1000 enqueues"},
  };
  uint64_t seq = 812;
  for (const auto& rec : records) {
    KernelLogRecord* k = log->add_records();
    k->set_sequence(seq++);
    k->set_timestamp_ns(rec.ns);
    k->set_level(rec.level);
    k->set_text(rec.text);
  }
}

void FillMaps(FailureDumpReport* r) {
  BpfMap* bss = r->add_bpf_maps();
  bss->set_name("ktvm_fif.bss");
  bss->set_id(7);
  bss->set_type(BPF_MAP_TYPE_ARRAY);
  bss->set_type_value(BPF_MAP_TYPE_ARRAY);
  bss->set_key_size(4);
  bss->set_value_size(96);
  bss->set_max_entries(1);
  bss->set_map_flags(0x400);
  bss->set_kernel_address(0xffff888004a1c000);
  RenderedValue* v = bss->add_entries()->mutable_value();
  v->set_type_name(".bss");
  AddMember(v, "nr_live_tasks", Uint("__u64", 3));
  AddMember(v, "nr_enqueues", Uint("__u64", 1000));
  AddMember(v, "nr_dispatches", Uint("__u64", 997));
  AddMember(v, "last_exited_task", TaskCtx(61, 4));

  BpfMap* hash = r->add_bpf_maps();
  hash->set_name("pid_to_slot");
  hash->set_id(8);
  hash->set_type(BPF_MAP_TYPE_HASH);
  hash->set_type_value(BPF_MAP_TYPE_HASH);
  hash->set_key_size(4);
  hash->set_value_size(8);
  hash->set_max_entries(4096);
  for (int pid : {1, 77}) {
    BpfMapEntry* e = hash->add_entries();
    *e->mutable_key() = Int("int", pid);
    *e->mutable_value() = Uint("__u64", 0x100000000000 + pid * 24);
  }
  hash->set_entries_omitted(5);

  BpfMap* percpu = r->add_bpf_maps();
  percpu->set_name("cpu_stats");
  percpu->set_id(9);
  percpu->set_type(BPF_MAP_TYPE_PERCPU_ARRAY);
  percpu->set_type_value(BPF_MAP_TYPE_PERCPU_ARRAY);
  percpu->set_key_size(4);
  percpu->set_value_size(8);
  percpu->set_max_entries(1);
  BpfMapEntry* pe = percpu->add_entries();
  *pe->mutable_key() = Uint("__u32", 0);
  *pe->add_percpu_values() = Uint("__u64", 612);
  *pe->add_percpu_values() = Uint("__u64", 388);

  BpfMap* arena = r->add_bpf_maps();
  arena->set_name("arena");
  arena->set_id(6);
  arena->set_type(BPF_MAP_TYPE_ARENA);
  arena->set_type_value(BPF_MAP_TYPE_ARENA);
  arena->set_max_entries(4096);
  arena->set_map_flags(0x400);
  ArenaSnapshot* a = arena->mutable_arena();
  a->set_user_vm_start(uint64_t{1} << 44);
  a->set_user_vm_end((uint64_t{1} << 44) + 4096ull * 4096);
  a->set_kern_vm_start(0xffffc90001000000);
  a->set_page_size(4096);
  a->set_declared_pages(4096);
  for (int page = 0; page < 3; ++page) {
    ArenaPage* p = a->add_pages();
    p->set_user_addr((uint64_t{1} << 44) + page * 4096);
    std::string data(4096, '\0');
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<char>((i * 7 + page) & 0xff);
    }
    p->set_data(data);
  }
  a->set_unmapped_pages(4093);
  a->set_captured_bytes_cap(64 << 20);
}

void FillSdt(FailureDumpReport* r) {
  SdtAllocatorSnapshot* s = r->add_sdt_allocators();
  s->set_allocator_name("task_allocator");
  s->set_elem_size(24);
  s->set_payload_btf_type_id(42);
  s->set_payload_type_name("struct ktvm_task_ctx");
  const struct {
    int idx, genn, pid;
    uint64_t counter;
  } entries[] = {{0, 0, 1, 211}, {1, 2, 77, 1000}, {2, 1, 80, 3}};
  for (const auto& e : entries) {
    SdtAllocEntry* out = s->add_entries();
    out->set_idx(e.idx);
    out->set_genn(e.genn);
    out->set_user_addr(0x1008 + e.idx * 24);
    *out->mutable_payload() = TaskCtx(e.pid, e.counter);
  }
  SdtAllocatorSnapshot* broken = r->add_sdt_allocators();
  broken->set_allocator_name("dsq_allocator");
  broken->set_elem_size(16);
  broken->set_payload_type_reason("no candidate of size 8");
  broken->set_skipped_subtrees(1);
  SdtAllocEntry* hex = broken->add_entries();
  hex->set_idx(5);
  hex->mutable_payload()->set_type_name("u8[8]");
  hex->mutable_payload()->set_bytes_value(
      std::string("\x01\x02\x03\x04\x00\x00\x00\x09", 8));
}

void FillRest(FailureDumpReport* r) {
  const struct {
    uint32_t nr, scx;
    int pid;
    const char* comm;
  } rqs[] = {{2, 2, 77, "stress-ng"}, {1, 0, 0, "swapper/1"}};
  for (uint32_t cpu = 0; cpu < 2; ++cpu) {
    CpuRunQueue* q = r->add_run_queues();
    q->set_cpu(cpu);
    q->set_nr_running(rqs[cpu].nr);
    q->set_scx_nr_running(rqs[cpu].scx);
    q->set_curr_pid(rqs[cpu].pid);
    q->set_curr_comm(rqs[cpu].comm);
    q->set_scx_local_dsq_nr(cpu);
    q->set_clock_ns(9'410'000'000 + cpu);
  }
  Diagnostic* d = r->add_diagnostics();
  d->set_subject("sdt_allocators[dsq_allocator]");
  d->set_reason("subtree at level 1 pos 3: chunk pointer 0x0");
  d->set_severity(Diagnostic::SEVERITY_WARNING);
  Diagnostic* d2 = r->add_diagnostics();
  d2->set_subject("bpf_maps[pid_to_slot]");
  d2->set_reason("5 entries beyond the capture cap");
  d2->set_severity(Diagnostic::SEVERITY_INFO);
  r->set_console_tail(
      "[    9.410877] sched_ext: BPF scheduler \"ktvm_fifo\" disabled "
      "(scx_bpf_error)\n");
  GuestLayout* g = r->mutable_guest_layout();
  g->set_kaslr_offset(kKaslr);
  g->set_phys_base(0x1f000000);
  g->set_page_offset(0xffff888000000000);
  g->set_kernel_page_table_root(0x2a0c000);
  g->set_vmcoreinfo_phys_addr(0x3f4d1000);
  g->set_kallsyms_count(187311);
  g->set_btf_type_count(152447);
}

int Run(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_fixture OUT.ktvm-dump OUT.json\n");
    return 2;
  }
  FailureDumpReport r;
  FillHeader(&r);
  FillTriggerAndTimings(&r);
  FillVcpus(&r);
  FillScxExit(&r);
  FillLog(&r);
  FillMaps(&r);
  FillSdt(&r);
  FillRest(&r);
  for (auto [path, format] :
       {std::pair{argv[1], ktvm::dump::ReportFormat::kBinary},
        std::pair{argv[2], ktvm::dump::ReportFormat::kJson}}) {
    absl::StatusOr<std::string> written =
        ktvm::dump::WriteReportAtomically(r, path, format);
    if (!written.ok()) {
      std::fprintf(stderr, "make_fixture: %s\n",
                   std::string(written.status().message()).c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace ktvm::dumpview

int main(int argc, char** argv) { return ktvm::dumpview::Run(argc, argv); }

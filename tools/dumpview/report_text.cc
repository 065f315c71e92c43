#include "tools/dumpview/report_text.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "btf/value_renderer.h"

namespace ktvm::dumpview {
namespace {

using ktvm::report::FailureDumpReport;
using ktvm::report::RenderedValue;

constexpr std::pair<Section, absl::string_view> kSectionNames[] = {
    {Section::kHeader, "header"},
    {Section::kTrigger, "trigger"},
    {Section::kTimings, "timings"},
    {Section::kScxExit, "scx_exit"},
    {Section::kVcpus, "vcpus"},
    {Section::kKernelLog, "log"},
    {Section::kMaps, "maps"},
    {Section::kArena, "arena"},
    {Section::kSdt, "sdt"},
    {Section::kRunQueues, "runqueues"},
    {Section::kDiagnostics, "diagnostics"},
    {Section::kConsole, "console"},
    {Section::kLayout, "layout"},
};

// Enum value names without the proto prefix ("BACKEND_QEMU_TCG" ->
// "QEMU_TCG"); values this build does not know print as numbers, since a
// newer ktvm may have written them.
std::string EnumText(const std::string& name, absl::string_view prefix,
                     int value) {
  if (name.empty()) return absl::StrCat("unknown(", value, ")");
  return std::string(absl::StripPrefix(name, prefix));
}

std::string Seconds(int64_t ns) {
  return absl::StrFormat("%.6f s", static_cast<double>(ns) / 1e9);
}

std::string Millis(int64_t ns) {
  return absl::StrFormat("%.3f ms", static_cast<double>(ns) / 1e6);
}

std::string Bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 30) && n % (uint64_t{1} << 30) == 0) {
    return absl::StrCat(n >> 30, " GiB");
  }
  if (n >= (uint64_t{1} << 20) && n % (uint64_t{1} << 20) == 0) {
    return absl::StrCat(n >> 20, " MiB");
  }
  if (n >= (uint64_t{1} << 20)) {
    return absl::StrFormat("%.1f MiB", static_cast<double>(n) / (1 << 20));
  }
  if (n >= 1024) return absl::StrFormat("%.1f KiB", n / 1024.0);
  return absl::StrCat(n, " B");
}

// Continuation lines of multi-line text (a kernel dump, a console tail)
// indented under their heading.
void AppendIndented(absl::string_view text, absl::string_view indent,
                    std::string* out) {
  text = absl::StripTrailingAsciiWhitespace(text);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    absl::StrAppend(out, indent, line, "\n");
  }
}

void FormatHeader(const FailureDumpReport& r, std::string* out) {
  const auto& h = r.header();
  absl::StrAppend(out, "== header\n");
  std::string written =
      h.wall_time_unix_ns() == 0
          ? "unknown time"
          : absl::FormatTime("%Y-%m-%d %H:%M:%E3S UTC",
                             absl::FromUnixNanos(h.wall_time_unix_ns()),
                             absl::UTCTimeZone());
  absl::StrAppendFormat(out, "  ktvm %s, format v%d, written %s\n",
                        h.ktvm_version().empty() ? "?" : h.ktvm_version(),
                        h.format_version(), written);
  absl::StrAppendFormat(out, "  backend %s%s\n",
                        EnumText(ktvm::report::Backend_Name(h.backend()),
                                 "BACKEND_", h.backend()),
                        h.backend_reason().empty()
                            ? ""
                            : absl::StrCat(" (", h.backend_reason(), ")"));
  absl::StrAppendFormat(out, "  host %s, kernel %s\n", h.host_name(),
                        h.host_kernel());
  absl::StrAppendFormat(
      out, "  guest %s, %d vCPUs, %s, kernel release %s\n",
      EnumText(ktvm::report::Arch_Name(h.arch()), "ARCH_", h.arch()),
      h.vcpu_count(), Bytes(h.memory_bytes()),
      h.kernel_release().empty() ? "?" : h.kernel_release());
  if (!h.kernel_path().empty()) {
    absl::StrAppendFormat(out, "  kernel %s%s\n", h.kernel_path(),
                          h.kernel_sha256().empty()
                              ? ""
                              : absl::StrCat(" sha256 ", h.kernel_sha256()));
  }
  if (!h.scheduler_path().empty()) {
    absl::StrAppendFormat(out, "  scheduler %s\n", h.scheduler_path());
  }
  if (!h.guest_command_line().empty()) {
    absl::StrAppendFormat(out, "  guest cmdline %s\n", h.guest_command_line());
  }
  if (h.command_line_size() > 0) {
    absl::StrAppendFormat(out, "  command %s\n",
                          absl::StrJoin(h.command_line(), " "));
  }
}

void FormatTrigger(const FailureDumpReport& r, std::string* out) {
  const auto& t = r.trigger();
  absl::StrAppendFormat(
      out, "== trigger: %s%s\n",
      EnumText(ktvm::report::TriggerKind_Name(t.kind()), "TRIGGER_KIND_",
               t.kind()),
      t.detector().empty() ? ""
                           : absl::StrCat(" (detected by ", t.detector(), ")"));
  if (!t.summary().empty()) absl::StrAppend(out, "  ", t.summary(), "\n");
}

void FormatTimings(const FailureDumpReport& r, std::string* out) {
  const auto& t = r.timings();
  absl::StrAppend(out, "== timings (host monotonic, since ktvm start)\n");
  const std::pair<absl::string_view, int64_t> events[] = {
      {"vm started", t.vm_started_ns()},
      {"guest init", t.guest_init_ns()},
      {"scheduler enabled", t.scheduler_enabled_ns()},
      {"detected", t.detected_ns()},
      {"frozen", t.frozen_ns()},
      {"dump finished", t.dump_finished_ns()},
  };
  for (const auto& [name, ns] : events) {
    if (ns == 0) continue;
    absl::StrAppendFormat(out, "  %-18s %s\n", name, Seconds(ns));
  }
  if (t.detection_window_ns() != 0) {
    absl::StrAppendFormat(out, "  detection window   %s\n",
                          Millis(t.detection_window_ns()));
  }
  if (t.detected_ns() != 0 && t.frozen_ns() != 0) {
    absl::StrAppendFormat(out, "  detect -> frozen   %s\n",
                          Millis(t.frozen_ns() - t.detected_ns()));
  }
  if (t.freeze_latency_ns() != 0) {
    absl::StrAppendFormat(out, "  freeze latency     %s\n",
                          Millis(t.freeze_latency_ns()));
  }
  const std::pair<absl::string_view, int64_t> phases[] = {
      {"bootstrap", t.bootstrap_ns()}, {"maps", t.maps_ns()},
      {"arena", t.arena_ns()},         {"sdt", t.sdt_ns()},
      {"serialize", t.serialize_ns()},
  };
  std::vector<std::string> parts;
  for (const auto& [name, ns] : phases) {
    if (ns != 0) parts.push_back(absl::StrCat(name, " ", Millis(ns)));
  }
  if (!parts.empty()) {
    absl::StrAppend(out, "  dump phases        ", absl::StrJoin(parts, ", "),
                    "\n");
  }
}

std::string FrameText(const ktvm::report::BacktraceFrame& f) {
  std::string text = f.symbol().empty()
                         ? absl::StrFormat("0x%x", f.address())
                         : absl::StrFormat("%s+0x%x", f.symbol(), f.offset());
  if (!f.symbol().empty() && f.symbol_size() != 0) {
    absl::StrAppendFormat(&text, "/0x%x", f.symbol_size());
  }
  if (!f.module().empty()) absl::StrAppend(&text, " [", f.module(), "]");
  if (!f.symbol().empty()) absl::StrAppendFormat(&text, " (0x%x)", f.address());
  return text;
}

void FormatScxExit(const FailureDumpReport& r, std::string* out) {
  if (!r.has_scx_exit()) {
    absl::StrAppend(out, "== sched_ext exit: none recorded\n");
    return;
  }
  const auto& e = r.scx_exit();
  std::string kind = e.kind_name();
  if (kind.empty()) {
    kind = EnumText(ktvm::report::ScxExitKind_Name(e.kind()), "SCX_EXIT_",
                    e.kind());
  }
  absl::StrAppendFormat(
      out, "== sched_ext exit: %s (kind %d), exit_code %d%s%s\n", kind,
      e.kind_value(), e.exit_code(),
      e.scheduler_name().empty()
          ? ""
          : absl::StrCat(", scheduler ", e.scheduler_name()),
      e.complete() ? "" : " [msg/backtrace may be incomplete]");
  if (!e.reason().empty()) absl::StrAppend(out, "  reason: ", e.reason(), "\n");
  if (!e.msg().empty()) absl::StrAppend(out, "  msg: ", e.msg(), "\n");
  if (e.backtrace_size() > 0) {
    absl::StrAppend(out, "  backtrace:\n");
    for (int i = 0; i < e.backtrace_size(); ++i) {
      absl::StrAppendFormat(out, "    #%-2d %s\n", i,
                            FrameText(e.backtrace(i)));
    }
  }
  if (!e.dump().empty()) {
    absl::StrAppend(out, "  dump:\n");
    AppendIndented(e.dump(), "    ", out);
  }
}

void FormatX86(const ktvm::report::X86Registers& x, std::string* out) {
  const std::pair<absl::string_view, uint64_t> gprs[] = {
      {"rax", x.rax()}, {"rbx", x.rbx()}, {"rcx", x.rcx()}, {"rdx", x.rdx()},
      {"rsi", x.rsi()}, {"rdi", x.rdi()}, {"rbp", x.rbp()}, {"rsp", x.rsp()},
      {"r8", x.r8()},   {"r9", x.r9()},   {"r10", x.r10()}, {"r11", x.r11()},
      {"r12", x.r12()}, {"r13", x.r13()}, {"r14", x.r14()}, {"r15", x.r15()},
  };
  for (size_t i = 0; i < std::size(gprs); i += 4) {
    absl::StrAppend(out, "   ");
    for (size_t j = i; j < i + 4; ++j) {
      absl::StrAppendFormat(out, " %3s=%016x", gprs[j].first, gprs[j].second);
    }
    absl::StrAppend(out, "\n");
  }
  absl::StrAppendFormat(out,
                        "    rflags=%x cs=%x ss=%x cr0=%x cr2=%x cr3=%x cr4=%x "
                        "efer=%x\n",
                        x.rflags(), x.cs().selector(), x.ss().selector(),
                        x.cr0(), x.cr2(), x.cr3(), x.cr4(), x.efer());
  absl::StrAppendFormat(
      out, "    fs_base=%x gs_base=%x kernel_gs_base=%x lstar=%x\n",
      x.fs_base(), x.gs_base(), x.kernel_gs_base(), x.lstar());
}

void FormatVcpus(const FailureDumpReport& r, std::string* out) {
  absl::StrAppendFormat(out, "== vCPUs (%d)\n", r.vcpus_size());
  for (const auto& v : r.vcpus()) {
    std::string where;
    if (v.has_x86_64()) {
      where = absl::StrFormat(" rip=%x", v.x86_64().rip());
    }
    if (!v.ip_symbol().empty()) absl::StrAppend(&where, " ", v.ip_symbol());
    absl::StrAppendFormat(
        out, "  vcpu %d: %s%s%s\n", v.index(),
        v.parked() ? "parked" : "NOT PARKED", where,
        v.note().empty() ? "" : absl::StrCat(" (", v.note(), ")"));
    if (v.has_x86_64()) FormatX86(v.x86_64(), out);
    if (v.has_aarch64()) {
      std::vector<std::string> regs;
      for (const auto& reg : v.aarch64().registers()) {
        regs.push_back(absl::StrFormat("%s=%x", reg.name(), reg.value()));
      }
      absl::StrAppendFormat(out, "    mpidr=%x %s\n", v.aarch64().mpidr(),
                            absl::StrJoin(regs, " "));
    }
  }
}

constexpr absl::string_view kLogLevels[] = {"EMERG", "ALERT",  "CRIT", "ERR",
                                            "WARN",  "NOTICE", "INFO", "DEBUG"};

void FormatKernelLog(const FailureDumpReport& r, size_t max_records,
                     std::string* out) {
  const auto& log = r.kernel_log();
  absl::StrAppendFormat(out, "== kernel log (%s): %d records",
                        log.source().empty() ? "unknown source" : log.source(),
                        log.records_size());
  if (log.dropped() > 0) {
    absl::StrAppendFormat(out, ", %d older not included", log.dropped());
  }
  size_t size = static_cast<size_t>(log.records_size());
  size_t first = 0;
  if (max_records != 0 && size > max_records) {
    first = size - max_records;
    absl::StrAppendFormat(out, "; newest %d shown", max_records);
  }
  absl::StrAppend(out, "\n");
  for (size_t i = first; i < size; ++i) {
    const auto& rec = log.records(static_cast<int>(i));
    absl::string_view level =
        rec.level() < std::size(kLogLevels) ? kLogLevels[rec.level()] : "?";
    absl::StrAppendFormat(out, "  [%5d.%06d] %-6s %s\n",
                          rec.timestamp_ns() / 1000000000,
                          rec.timestamp_ns() % 1000000000 / 1000, level,
                          absl::StripTrailingAsciiWhitespace(rec.text()));
  }
}

// Map values are often structs (a DATASEC of globals): one member per line
// keeps a .bss readable; anything else stays on the entry's line.
void AppendValue(const RenderedValue& v, absl::string_view indent,
                 std::string* out) {
  if (v.has_struct_value() && v.struct_value().members_size() > 1) {
    absl::StrAppend(out, v.type_name(), "\n");
    for (const auto& m : v.struct_value().members()) {
      absl::StrAppend(out, indent, "  ", m.name().empty() ? "<anon>" : m.name(),
                      " = ", ktvm::btf::FormatRenderedValue(m.value()), "\n");
    }
    return;
  }
  absl::StrAppend(out, ktvm::btf::FormatRenderedValue(v), "\n");
}

std::string MapTypeText(const ktvm::report::BpfMap& m) {
  int value = m.type_value() != 0 ? m.type_value() : m.type();
  return EnumText(ktvm::report::BpfMapType_Name(value), "BPF_MAP_TYPE_", value);
}

void FormatMaps(const FailureDumpReport& r, std::string* out) {
  absl::StrAppendFormat(out, "== BPF maps (%d)\n", r.bpf_maps_size());
  for (const auto& m : r.bpf_maps()) {
    absl::StrAppendFormat(
        out, "  map %d %s %s: key %d B, value %d B, max_entries %d, flags 0x%x",
        m.id(), m.name().empty() ? "<unnamed>" : m.name(), MapTypeText(m),
        m.key_size(), m.value_size(), m.max_entries(), m.map_flags());
    if (m.kernel_address() != 0) {
      absl::StrAppendFormat(out, ", at 0x%x", m.kernel_address());
    }
    absl::StrAppend(out, "\n");
    if (!m.note().empty()) absl::StrAppend(out, "    note: ", m.note(), "\n");
    for (int i = 0; i < m.entries_size(); ++i) {
      const auto& e = m.entries(i);
      std::string label = e.has_key() ? ktvm::btf::FormatRenderedValue(e.key())
                                      : absl::StrCat(i);
      if (e.percpu_values_size() > 0) {
        absl::StrAppendFormat(out, "    [%s] per CPU:\n", label);
        for (int cpu = 0; cpu < e.percpu_values_size(); ++cpu) {
          absl::StrAppendFormat(out, "      cpu%d = ", cpu);
          AppendValue(e.percpu_values(cpu), "      ", out);
        }
        continue;
      }
      absl::StrAppendFormat(out, "    [%s] = ", label);
      AppendValue(e.value(), "    ", out);
    }
    if (m.entries_omitted() > 0) {
      absl::StrAppendFormat(out, "    ... %d more entries not captured\n",
                            m.entries_omitted());
    }
    if (m.has_arena()) {
      absl::StrAppendFormat(out, "    arena: %d pages captured (see arena)\n",
                            m.arena().pages_size());
    }
  }
}

void FormatArenas(const FailureDumpReport& r, std::string* out) {
  int arenas = 0;
  for (const auto& m : r.bpf_maps()) {
    if (!m.has_arena()) continue;
    ++arenas;
    const auto& a = m.arena();
    uint64_t captured = 0;
    for (const auto& p : a.pages()) captured += p.data().size();
    absl::StrAppendFormat(out, "== arena %s (map %d)\n", m.name(), m.id());
    absl::StrAppendFormat(out,
                          "  user_vm 0x%x-0x%x, kern_vm_start 0x%x, page %s\n",
                          a.user_vm_start(), a.user_vm_end(), a.kern_vm_start(),
                          Bytes(a.page_size()));
    absl::StrAppendFormat(
        out, "  pages: %d declared, %d captured (%s), %d unmapped%s\n",
        a.declared_pages(), a.pages_size(), Bytes(captured), a.unmapped_pages(),
        a.truncated() ? absl::StrCat(", TRUNCATED at the ",
                                     Bytes(a.captured_bytes_cap()), " cap")
                      : "");
    std::vector<std::string> addrs;
    constexpr int kShownPages = 8;
    for (int i = 0; i < a.pages_size() && i < kShownPages; ++i) {
      addrs.push_back(absl::StrFormat("0x%x", a.pages(i).user_addr()));
    }
    if (!addrs.empty()) {
      absl::StrAppend(out, "  captured pages at ", absl::StrJoin(addrs, " "),
                      a.pages_size() > kShownPages ? " ..." : "", "\n");
    }
  }
  if (arenas == 0) absl::StrAppend(out, "== arena: no arena maps\n");
}

void FormatSdt(const FailureDumpReport& r, std::string* out) {
  absl::StrAppendFormat(out, "== sdt allocators (%d)\n",
                        r.sdt_allocators_size());
  for (const auto& a : r.sdt_allocators()) {
    AppendIndented(FormatSdtAllocator(a), "  ", out);
  }
}

void FormatRunQueues(const FailureDumpReport& r, std::string* out) {
  absl::StrAppendFormat(out, "== run queues (%d CPUs)\n", r.run_queues_size());
  if (r.run_queues_size() == 0) return;
  absl::StrAppend(out,
                  "  cpu  nr_running  scx_nr_running  local_dsq  clock         "
                  "    current\n");
  for (const auto& q : r.run_queues()) {
    absl::StrAppendFormat(out, "  %3d  %10d  %14d  %9d  %-17s  %s[%d]\n",
                          q.cpu(), q.nr_running(), q.scx_nr_running(),
                          q.scx_local_dsq_nr(), Seconds(q.clock_ns()),
                          q.curr_comm(), q.curr_pid());
  }
}

void FormatDiagnostics(const FailureDumpReport& r, std::string* out) {
  absl::StrAppendFormat(out, "== diagnostics (%d)\n", r.diagnostics_size());
  for (const auto& d : r.diagnostics()) {
    absl::StrAppendFormat(
        out, "  %-7s %s: %s\n",
        EnumText(ktvm::report::Diagnostic_Severity_Name(d.severity()),
                 "SEVERITY_", d.severity()),
        d.subject(), d.reason());
  }
}

void FormatConsole(const FailureDumpReport& r, std::string* out) {
  if (r.console_tail().empty()) {
    absl::StrAppend(out, "== console tail: empty\n");
    return;
  }
  absl::StrAppend(out, "== console tail (COM1)\n");
  AppendIndented(absl::StripTrailingAsciiWhitespace(r.console_tail()), "  ",
                 out);
}

void FormatLayout(const FailureDumpReport& r, std::string* out) {
  const auto& g = r.guest_layout();
  absl::StrAppend(out, "== guest layout\n");
  absl::StrAppendFormat(
      out, "  kaslr_offset 0x%x, phys_base 0x%x, page_offset 0x%x\n",
      g.kaslr_offset(), g.phys_base(), g.page_offset());
  absl::StrAppendFormat(
      out, "  page table root 0x%x (%s paging), vmcoreinfo at 0x%x\n",
      g.kernel_page_table_root(), g.five_level_paging() ? "5-level" : "4-level",
      g.vmcoreinfo_phys_addr());
  absl::StrAppendFormat(out, "  %d kallsyms, %d BTF types\n",
                        g.kallsyms_count(), g.btf_type_count());
}

}  // namespace

const std::vector<Section>& AllSections() {
  static const auto* all = [] {
    auto* v = new std::vector<Section>;
    for (const auto& [section, name] : kSectionNames) v->push_back(section);
    return v;
  }();
  return *all;
}

absl::string_view SectionName(Section section) {
  for (const auto& [s, name] : kSectionNames) {
    if (s == section) return name;
  }
  return "?";
}

absl::StatusOr<std::set<Section>> ParseSections(absl::string_view list) {
  std::set<Section> sections;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    item = absl::StripAsciiWhitespace(item);
    if (item == "all") {
      sections.insert(AllSections().begin(), AllSections().end());
      continue;
    }
    bool found = false;
    for (const auto& [section, name] : kSectionNames) {
      if (item == name) {
        sections.insert(section);
        found = true;
      }
    }
    if (!found) {
      std::vector<std::string> names;
      for (const auto& [section, name] : kSectionNames) {
        names.emplace_back(name);
      }
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown section '%s' (valid: all,%s)", item,
                          absl::StrJoin(names, ",")));
    }
  }
  if (sections.empty()) {
    return absl::InvalidArgumentError("--section names no section");
  }
  return sections;
}

std::string FormatSdtAllocator(const ktvm::report::SdtAllocatorSnapshot& a) {
  std::string out = absl::StrFormat(
      "sdt_alloc %s (elem_size=%d, btf_type_id=%d",
      a.allocator_name().empty() ? "<unnamed>" : a.allocator_name(),
      a.elem_size(), a.payload_btf_type_id());
  if (!a.payload_type_name().empty()) {
    absl::StrAppend(&out, ", type=", a.payload_type_name());
  }
  if (!a.payload_type_reason().empty()) {
    absl::StrAppend(&out, ", reason=", a.payload_type_reason());
  }
  absl::StrAppendFormat(&out, "): %d live", a.entries_size());
  if (a.truncated()) absl::StrAppend(&out, " (truncated)");
  if (a.skipped_subtrees() > 0) {
    absl::StrAppendFormat(&out, " (%d subtrees skipped)", a.skipped_subtrees());
  }
  if (!a.error().empty()) absl::StrAppend(&out, " ERROR: ", a.error());
  for (const auto& e : a.entries()) {
    absl::StrAppendFormat(&out, "\n  idx=%d genn=%d user_addr=0x%x payload=%s",
                          e.idx(), e.genn(), e.user_addr(),
                          ktvm::btf::FormatRenderedValue(e.payload()));
    if (e.zeroed()) absl::StrAppend(&out, " (zeroed: raced a free)");
  }
  return out;
}

std::string FormatReport(const FailureDumpReport& report,
                         const std::set<Section>& sections,
                         const TextOptions& options) {
  std::string out;
  for (Section section : AllSections()) {
    if (!sections.contains(section)) continue;
    switch (section) {
      case Section::kHeader:
        FormatHeader(report, &out);
        break;
      case Section::kTrigger:
        FormatTrigger(report, &out);
        break;
      case Section::kTimings:
        FormatTimings(report, &out);
        break;
      case Section::kScxExit:
        FormatScxExit(report, &out);
        break;
      case Section::kVcpus:
        FormatVcpus(report, &out);
        break;
      case Section::kKernelLog:
        FormatKernelLog(report, options.max_log_records, &out);
        break;
      case Section::kMaps:
        FormatMaps(report, &out);
        break;
      case Section::kArena:
        FormatArenas(report, &out);
        break;
      case Section::kSdt:
        FormatSdt(report, &out);
        break;
      case Section::kRunQueues:
        FormatRunQueues(report, &out);
        break;
      case Section::kDiagnostics:
        FormatDiagnostics(report, &out);
        break;
      case Section::kConsole:
        FormatConsole(report, &out);
        break;
      case Section::kLayout:
        FormatLayout(report, &out);
        break;
    }
  }
  return out;
}

}  // namespace ktvm::dumpview

// Checks dumpview's text against generated report files: every expectation
// is derived from the report read back (no golden text), so the test follows
// the fixture and fails when a field stops being shown.
#include "tools/dumpview/report_text.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "btf/value_renderer.h"
#include "gtest/gtest.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dumpview {
namespace {

using ktvm::report::FailureDumpReport;

constexpr char kBinary[] = "tools/dumpview/fixture.ktvm-dump";
constexpr char kJson[] = "tools/dumpview/fixture.ktvm-dump.json";

FailureDumpReport Load(const char* path) {
  absl::StatusOr<FailureDumpReport> r = ktvm::dump::ReadReport(path);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : FailureDumpReport();
}

std::string AllText(const FailureDumpReport& r) {
  std::set<Section> all(AllSections().begin(), AllSections().end());
  return FormatReport(r, all);
}

#define EXPECT_HAS(text, needle) \
  EXPECT_TRUE(absl::StrContains(text, needle)) << "missing: " << (needle)

TEST(ReportTextTest, SummaryShowsEveryPartOfTheReport) {
  FailureDumpReport r = Load(kBinary);
  std::string text = AllText(r);
  // Every section has at least one heading line.
  size_t headings = 0;
  for (size_t at = 0; (at = text.find("\n== ", at)) != std::string::npos;
       ++at) {
    ++headings;
  }
  EXPECT_GE(headings + 1, AllSections().size());
  EXPECT_TRUE(absl::StartsWith(text, "== header"));
  EXPECT_HAS(text, r.header().kernel_release());
  EXPECT_HAS(text, "QEMU_TCG");
  EXPECT_HAS(text, r.header().backend_reason());
  EXPECT_HAS(text, "== trigger: SCHED_EXT_ERROR");
  EXPECT_HAS(text, r.trigger().summary());
  EXPECT_HAS(text, absl::StrFormat("%.3f ms", (r.timings().frozen_ns() -
                                               r.timings().detected_ns()) /
                                                  1e6));
  // sched_ext exit: kind, message, every symbolised frame.
  EXPECT_HAS(text, absl::StrCat(r.scx_exit().kind_name(), " (kind ",
                                r.scx_exit().kind_value(), ")"));
  EXPECT_HAS(text, absl::StrCat("msg: ", r.scx_exit().msg()));
  for (const auto& f : r.scx_exit().backtrace()) {
    EXPECT_HAS(text, absl::StrFormat("%s+0x%x/0x%x", f.symbol(), f.offset(),
                                     f.symbol_size()));
  }
  for (const auto& v : r.vcpus()) {
    EXPECT_HAS(text, absl::StrFormat("vcpu %d: parked rip=%x %s", v.index(),
                                     v.x86_64().rip(), v.ip_symbol()));
    EXPECT_HAS(text, absl::StrFormat("cr3=%x", v.x86_64().cr3()));
  }
  for (const auto& rec : r.kernel_log().records()) {
    EXPECT_HAS(text, rec.text());
  }
  for (const auto& m : r.bpf_maps()) {
    EXPECT_HAS(text, absl::StrCat("map ", m.id(), " ", m.name(), " "));
  }
  for (const auto& q : r.run_queues()) {
    EXPECT_HAS(text, absl::StrCat(q.curr_comm(), "[", q.curr_pid(), "]"));
  }
  for (const auto& d : r.diagnostics()) {
    EXPECT_HAS(text, absl::StrCat(d.subject(), ": ", d.reason()));
  }
  EXPECT_HAS(text, "disabled (scx_bpf_error)");  // console tail
  EXPECT_HAS(text, absl::StrFormat("kaslr_offset 0x%x",
                                   r.guest_layout().kaslr_offset()));
}

TEST(ReportTextTest, SdtEntriesRenderTheirPayloadByFieldName) {
  FailureDumpReport r = Load(kBinary);
  ASSERT_GT(r.sdt_allocators_size(), 0);
  std::string text = AllText(r);
  for (const auto& a : r.sdt_allocators()) {
    EXPECT_HAS(text, absl::StrFormat("sdt_alloc %s (elem_size=%d",
                                     a.allocator_name(), a.elem_size()));
    EXPECT_HAS(text, absl::StrFormat(": %d live", a.entries_size()));
    for (const auto& e : a.entries()) {
      EXPECT_HAS(text, absl::StrFormat("idx=%d genn=%d user_addr=0x%x payload=",
                                       e.idx(), e.genn(), e.user_addr()));
    }
    if (a.skipped_subtrees() > 0) {
      EXPECT_HAS(
          text, absl::StrFormat("(%d subtrees skipped)", a.skipped_subtrees()));
    }
    if (!a.payload_type_reason().empty()) {
      EXPECT_HAS(text, absl::StrCat("reason=", a.payload_type_reason()));
    }
  }
  // The task allocator's payload: named fields, the scheduler's magic.
  const auto& task = r.sdt_allocators(0).entries(1);
  const auto& members = task.payload().struct_value().members();
  ASSERT_EQ(members.size(), 3);
  EXPECT_HAS(text, absl::StrFormat("pid = %d", members[0].value().int_value()));
  EXPECT_HAS(text, "magic = 0xfeedc0de");
  // Untyped payloads fall back to hex.
  EXPECT_HAS(text, "payload=0x0102030400000009");
}

TEST(ReportTextTest, MapEntriesShowDatasecMembersAndPerCpuValues) {
  FailureDumpReport r = Load(kBinary);
  std::string text = AllText(r);
  const auto& bss = r.bpf_maps(0);
  for (const auto& m : bss.entries(0).value().struct_value().members()) {
    EXPECT_HAS(text, absl::StrCat("  ", m.name(), " = ",
                                  ktvm::btf::FormatRenderedValue(m.value())));
  }
  EXPECT_HAS(text, absl::StrFormat("... %d more entries not captured",
                                   r.bpf_maps(1).entries_omitted()));
  const auto& percpu = r.bpf_maps(2).entries(0);
  for (int cpu = 0; cpu < percpu.percpu_values_size(); ++cpu) {
    EXPECT_HAS(text, absl::StrCat("cpu", cpu, " = ",
                                  percpu.percpu_values(cpu).uint_value()));
  }
  const auto& arena = r.bpf_maps(3).arena();
  EXPECT_HAS(text, absl::StrFormat("pages: %d declared, %d captured",
                                   arena.declared_pages(), arena.pages_size()));
  EXPECT_HAS(text, absl::StrFormat("%d unmapped", arena.unmapped_pages()));
}

TEST(ReportTextTest, LogTailKeepsTheNewestRecords) {
  FailureDumpReport r = Load(kBinary);
  ASSERT_GE(r.kernel_log().records_size(), 2);
  std::string text =
      FormatReport(r, {Section::kKernelLog}, {.max_log_records = 1});
  int last = r.kernel_log().records_size() - 1;
  EXPECT_HAS(text, "newest 1 shown");
  EXPECT_HAS(text, r.kernel_log().records(last).text());
  EXPECT_FALSE(absl::StrContains(text, r.kernel_log().records(0).text()));
}

TEST(ReportTextTest, JsonAndBinaryFixturesGiveTheSameText) {
  EXPECT_EQ(AllText(Load(kBinary)), AllText(Load(kJson)));
}

TEST(ReportTextTest, SectionFilterKeepsOnlyTheChosenSections) {
  FailureDumpReport r = Load(kBinary);
  absl::StatusOr<std::set<Section>> sections = ParseSections("scx_exit, sdt");
  ASSERT_TRUE(sections.ok());
  std::string text = FormatReport(r, *sections);
  EXPECT_HAS(text, "== sched_ext exit:");
  EXPECT_HAS(text, "== sdt allocators");
  EXPECT_FALSE(absl::StrContains(text, "== header"));
  EXPECT_FALSE(absl::StrContains(text, "== vCPUs"));
  EXPECT_FALSE(absl::StrContains(text, r.kernel_log().records(0).text()));

  absl::StatusOr<std::set<Section>> bad = ParseSections("sdt,bogus");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "bogus"));
  EXPECT_FALSE(ParseSections(",").ok());
  absl::StatusOr<std::set<Section>> all = ParseSections("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), AllSections().size());
}

TEST(ReportTextTest, EmptyReportSaysWhatIsMissing) {
  FailureDumpReport r;
  r.mutable_header();
  std::string text = AllText(r);
  EXPECT_HAS(text, "== sched_ext exit: none recorded");
  EXPECT_HAS(text, "== BPF maps (0)");
  EXPECT_HAS(text, "== arena: no arena maps");
  EXPECT_HAS(text, "== console tail: empty");
}

TEST(ReportTextTest, UnknownEnumValuesFromANewerWriterPrintAsNumbers) {
  FailureDumpReport r;
  r.mutable_trigger()->set_kind(static_cast<ktvm::report::TriggerKind>(99));
  r.mutable_header()->set_backend(static_cast<ktvm::report::Backend>(42));
  std::string text = AllText(r);
  EXPECT_HAS(text, "== trigger: unknown(99)");
  EXPECT_HAS(text, "backend unknown(42)");
}

}  // namespace
}  // namespace ktvm::dumpview

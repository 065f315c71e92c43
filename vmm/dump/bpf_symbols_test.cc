// BPF program symbols over synthetic kernel memory laid out with the real
// kernel's BTF offsets: prog_idr with a program and its subprograms (from
// aux->ksym), a program without a ksym (bpf_func + jited_len + tag), a torn
// program, and the bpf_kallsyms list with a struct_ops trampoline.
#include "vmm/dump/bpf_symbols.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "vmm/dump/testing/fake_kernel.h"

namespace ktvm::dump {
namespace {

using testing::FakeKernel;
using testing::Off;
using testing::VmlinuxBtf;

constexpr uint64_t kProgIdr = 0x1000;
constexpr uint64_t kKallsymsHead = 0x1100;
constexpr uint64_t kNode = 0x10000;

constexpr uint64_t kEnqueueCode = 0xffffffffc0400000ull;
constexpr uint64_t kHelperCode = 0xffffffffc0400200ull;
constexpr uint64_t kDispatchCode = 0xffffffffc0401000ull;
constexpr uint64_t kTrampolineCode = 0xffffffffc0401a00ull;
constexpr char kEnqueueName[] = "bpf_prog_6deef7357e7b4530_ktvm_enqueue";

class BpfSymbolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(VmlinuxBtf(), nullptr) << "no BTF from external/kernel/bzImage";
  }

  // prog_idr as one XArray leaf node holding `progs` at indices 1.. .
  void PutProgIdr(const GuestKernel& k, const std::vector<uint64_t>& progs) {
    fake_.Put<uint8_t>(kNode + Off(k, "xa_node", "shift"), 0);
    for (size_t i = 0; i < progs.size(); ++i) {
      fake_.Put<uint64_t>(kNode + Off(k, "xa_node", "slots") + 8 * (i + 1),
                          FakeKernel::Va(progs[i]));
    }
    fake_.Put<uint64_t>(kProgIdr + Off(k, "idr", "idr_rt.xa_head"),
                        FakeKernel::Va(kNode) | 2);
  }

  // struct bpf_prog at `prog` with its aux at `aux`.
  void PutProg(const GuestKernel& k, uint64_t prog, uint64_t aux, uint32_t id,
               std::string_view aux_name) {
    fake_.Put<uint64_t>(prog + Off(k, "bpf_prog", "aux"), FakeKernel::Va(aux));
    fake_.Put<uint32_t>(aux + Off(k, "bpf_prog_aux", "id"), id);
    fake_.PutBytes(aux + Off(k, "bpf_prog_aux", "name"), aux_name);
  }

  void PutKsym(const GuestKernel& k, uint64_t ksym, uint64_t start,
               uint64_t end, std::string_view name) {
    fake_.Put<uint64_t>(ksym + Off(k, "bpf_ksym", "start"), start);
    fake_.Put<uint64_t>(ksym + Off(k, "bpf_ksym", "end"), end);
    fake_.PutBytes(ksym + Off(k, "bpf_ksym", "name"), name);
  }

  FakeKernel fake_{{{"prog_idr", kProgIdr}, {"bpf_kallsyms", kKallsymsHead}}};
};

TEST_F(BpfSymbolsTest, ProgramsSubprogramsAndTrampolinesAreNamed) {
  const GuestKernel& k = fake_.Build();
  const uint64_t ksym = Off(k, "bpf_prog_aux", "ksym");
  const uint64_t lnode = Off(k, "bpf_ksym", "lnode");

  // ktvm_enqueue with two subprograms: func[0] is the main body (same
  // range as the program), func[1] a helper.
  const uint64_t enqueue = 0x40000, enqueue_aux = 0x41000;
  PutProg(k, enqueue, enqueue_aux, 7, "ktvm_enqueue");
  PutKsym(k, enqueue_aux + ksym, kEnqueueCode, kEnqueueCode + 0x100,
          kEnqueueName);
  const uint64_t funcs = 0x42000, sub0 = 0x43000, sub0_aux = 0x44000,
                 sub1 = 0x45000, sub1_aux = 0x46000;
  fake_.Put<uint32_t>(enqueue_aux + Off(k, "bpf_prog_aux", "func_cnt"), 2);
  fake_.Put<uint64_t>(enqueue_aux + Off(k, "bpf_prog_aux", "func"),
                      FakeKernel::Va(funcs));
  fake_.Put<uint64_t>(funcs, FakeKernel::Va(sub0));
  fake_.Put<uint64_t>(funcs + 8, FakeKernel::Va(sub1));
  PutProg(k, sub0, sub0_aux, 0, "ktvm_enqueue");
  PutKsym(k, sub0_aux + ksym, kEnqueueCode, kEnqueueCode + 0x100, kEnqueueName);
  PutProg(k, sub1, sub1_aux, 0, "F");
  PutKsym(k, sub1_aux + ksym, kHelperCode, kHelperCode + 0x40,
          "bpf_prog_6deef7357e7b4530_task_ctx");

  // ktvm_dispatch never entered kallsyms (empty ksym): bpf_func,
  // jited_len and the tag name it.
  const uint64_t dispatch = 0x50000, dispatch_aux = 0x51000;
  PutProg(k, dispatch, dispatch_aux, 8, "ktvm_dispatch");
  fake_.Put<uint64_t>(dispatch + Off(k, "bpf_prog", "bpf_func"), kDispatchCode);
  fake_.Put<uint32_t>(dispatch + Off(k, "bpf_prog", "jited_len"), 0x80);
  fake_.PutBytes(dispatch + Off(k, "bpf_prog", "tag"),
                 std::string_view("\x01\x02\x03\x04\xa5\xb6\xc7\xd8", 8));

  // A torn program: its aux pointer is not a kernel address.
  const uint64_t torn = 0x58000;
  fake_.Put<uint64_t>(torn + Off(k, "bpf_prog", "aux"), 0x1234);
  PutProgIdr(k, {enqueue, dispatch, torn});

  // bpf_kallsyms: head -> enqueue's ksym -> the struct_ops trampoline.
  const uint64_t tramp = 0x60000;
  PutKsym(k, tramp, kTrampolineCode, kTrampolineCode + 0x100,
          "bpf__sched_ext_ops_enqueue");
  fake_.Put<uint64_t>(kKallsymsHead,
                      FakeKernel::Va(enqueue_aux + ksym + lnode));
  fake_.Put<uint64_t>(enqueue_aux + ksym + lnode,
                      FakeKernel::Va(tramp + lnode));
  // The head is a kernel-image variable: its address is the image one.
  fake_.Put<uint64_t>(tramp + lnode, testing::kImageBase + kKallsymsHead);

  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfSymbols> symbols =
      ReadBpfSymbols(k, BpfSymbolLimits{}, diagnostics);
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  // enqueue (its func[0] and list entry are duplicates), helper, dispatch,
  // trampoline.
  EXPECT_EQ(symbols->size(), 4u);

  const BpfSymbol* s = symbols->Find(kEnqueueCode + 0x37);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, kEnqueueName);
  EXPECT_EQ(s->program, "ktvm_enqueue");
  EXPECT_EQ(s->prog_id, 7u);

  s = symbols->Find(kHelperCode + 0x3f);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->program, "task_ctx");
  EXPECT_EQ(s->prog_id, 7u);

  s = symbols->Find(kDispatchCode);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "bpf_prog_01020304a5b6c7d8_ktvm_dispatch");
  EXPECT_EQ(s->program, "ktvm_dispatch");
  EXPECT_EQ(s->prog_id, 8u);

  s = symbols->Find(kTrampolineCode + 0x50);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "bpf__sched_ext_ops_enqueue");
  EXPECT_EQ(s->program, "");
  EXPECT_EQ(s->prog_id, 0u);

  // Ends are exclusive; gaps between programs are not covered.
  EXPECT_EQ(symbols->Find(kEnqueueCode + 0x100), nullptr);
  EXPECT_EQ(symbols->Find(kHelperCode + 0x40), nullptr);
  EXPECT_EQ(symbols->Find(kEnqueueCode - 1), nullptr);

  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_TRUE(
      absl::StrContains(diagnostics[0].reason(), "1 of 3 programs unreadable"))
      << diagnostics[0].reason();
  EXPECT_TRUE(absl::StrContains(diagnostics[0].reason(), "0x1234"))
      << diagnostics[0].reason();

  // Backtrace frames in BPF code get the kernel's kallsyms form; a core
  // kernel frame keeps what kallsyms gave it.
  report::SchedExtExitInfo info;
  report::BacktraceFrame* core = info.add_backtrace();
  core->set_address(0xffffffff81234567ull);
  core->set_symbol("scx_bpf_error_bstr");
  info.add_backtrace()->set_address(kEnqueueCode + 0x37);
  info.add_backtrace()->set_address(kTrampolineCode + 0x50);
  EXPECT_EQ(SymbolizeBpfFrames(*symbols, *info.mutable_backtrace()), 2);
  EXPECT_EQ(info.backtrace(0).symbol(), "scx_bpf_error_bstr");
  EXPECT_EQ(info.backtrace(0).module(), "");
  const report::BacktraceFrame& prog = info.backtrace(1);
  EXPECT_EQ(prog.symbol(), kEnqueueName);
  EXPECT_EQ(prog.offset(), 0x37u);
  EXPECT_EQ(prog.symbol_size(), 0x100u);
  EXPECT_EQ(prog.module(), "bpf");
  EXPECT_EQ(prog.bpf_program(), "ktvm_enqueue");
  EXPECT_EQ(prog.bpf_prog_id(), 7u);
  EXPECT_EQ(info.backtrace(2).symbol(), "bpf__sched_ext_ops_enqueue");
  EXPECT_EQ(FormatBpfAddress(*symbols, kEnqueueCode + 0x37),
            std::string(kEnqueueName) + "+0x37/0x100 [bpf]");
  EXPECT_EQ(FormatBpfAddress(*symbols, 0xffffffff81000000ull), "");
}

TEST_F(BpfSymbolsTest, TornKsymsAndACyclicListAreBoundedAndReported) {
  const GuestKernel& k = fake_.Build();
  const uint64_t ksym = Off(k, "bpf_prog_aux", "ksym");
  const uint64_t lnode = Off(k, "bpf_ksym", "lnode");
  // A ksym whose end lies before its start.
  const uint64_t prog = 0x40000, aux = 0x41000;
  PutProg(k, prog, aux, 3, "backwards");
  PutKsym(k, aux + ksym, kEnqueueCode + 0x100, kEnqueueCode, kEnqueueName);
  // A good one.
  const uint64_t good = 0x50000, good_aux = 0x51000;
  PutProg(k, good, good_aux, 4, "ktvm_enqueue");
  PutKsym(k, good_aux + ksym, kHelperCode, kHelperCode + 0x40, kEnqueueName);
  PutProgIdr(k, {prog, good});
  // The list's first node points at itself: it never returns to the head.
  const uint64_t loop = 0x60000;
  PutKsym(k, loop, kTrampolineCode, kTrampolineCode + 0x10, "bpf_loop");
  fake_.Put<uint64_t>(kKallsymsHead, FakeKernel::Va(loop + lnode));
  fake_.Put<uint64_t>(loop + lnode, FakeKernel::Va(loop + lnode));

  std::vector<report::Diagnostic> diagnostics;
  BpfSymbolLimits limits;
  limits.max_kallsyms = 100;
  absl::StatusOr<BpfSymbols> symbols = ReadBpfSymbols(k, limits, diagnostics);
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  EXPECT_NE(symbols->Find(kHelperCode), nullptr);
  EXPECT_NE(symbols->Find(kTrampolineCode), nullptr);
  EXPECT_EQ(symbols->Find(kEnqueueCode + 0x10), nullptr);
  ASSERT_EQ(diagnostics.size(), 2u);
  EXPECT_TRUE(absl::StrContains(diagnostics[0].reason(), "not a code range"))
      << diagnostics[0].reason();
  EXPECT_TRUE(absl::StrContains(diagnostics[1].reason(),
                                "did not return to its head within 100"))
      << diagnostics[1].reason();
}

TEST_F(BpfSymbolsTest, NoProgIdrIsAnError) {
  FakeKernel bare({{"map_idr", kProgIdr}});
  const GuestKernel& k = bare.Build();
  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfSymbols> symbols =
      ReadBpfSymbols(k, BpfSymbolLimits{}, diagnostics);
  EXPECT_FALSE(symbols.ok());
  EXPECT_TRUE(absl::StrContains(symbols.status().message(), "prog_idr"))
      << symbols.status();
}

}  // namespace
}  // namespace ktvm::dump

#include "vmm/sched_ext_console.h"

#include "gtest/gtest.h"

namespace ktvm::vmm {
namespace {

TEST(SchedExtConsoleTest, ErrorReasons) {
  EXPECT_EQ(SchedExtErrorReason("[    9.1] sched_ext: BPF scheduler "
                                "\"ktvm_fifo\" disabled (runnable task stall)"),
            "runnable task stall");
  EXPECT_EQ(SchedExtErrorReason("sched_ext: BPF scheduler \"a (b)\" disabled "
                                "(scx_bpf_error)"),
            "scx_bpf_error");
  EXPECT_EQ(SchedExtErrorReason("sched_ext: BPF scheduler \"x\" disabled "
                                "(unregistered from user space)"),
            std::nullopt);
  EXPECT_EQ(SchedExtErrorReason("sched_ext: BPF scheduler \"x\" enabled"),
            std::nullopt);
  EXPECT_EQ(SchedExtErrorReason("random text (with parens)"), std::nullopt);
}

TEST(SchedExtConsoleTest, WatcherJoinsChunksAndKeepsTheFirst) {
  SchedExtConsoleWatcher w;
  w.Feed("[ 1.0] sched_ext: BPF sched");
  EXPECT_EQ(w.error(), std::nullopt);
  w.Feed("uler \"f\" disabled (scx_bpf_error)\r\nmore\n");
  EXPECT_EQ(w.error(), "scx_bpf_error") << "the console's \\r is ignored";
  w.Feed("sched_ext: BPF scheduler \"f\" disabled (runnable task stall)\n");
  EXPECT_EQ(w.error(), "scx_bpf_error");
  SchedExtConsoleWatcher long_line;
  long_line.Feed(std::string(100000, 'x'));
  long_line.Feed("\n");
  EXPECT_EQ(long_line.error(), std::nullopt);
}

}  // namespace
}  // namespace ktvm::vmm

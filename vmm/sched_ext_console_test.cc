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

}  // namespace
}  // namespace ktvm::vmm

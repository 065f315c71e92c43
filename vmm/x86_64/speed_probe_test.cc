#include "vmm/x86_64/speed_probe.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace ktvm::vmm::x86_64 {
namespace {

TEST(SpeedProbeTest, MeasuresTheCalibrationLoop) {
  if (access("/dev/kvm", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
  }
  absl::StatusOr<SpeedProbe> probe = ProbeKvmSpeed("/dev/kvm", 5000);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->instructions, 5000u * 3 + 2);
  EXPECT_GT(probe->elapsed, absl::ZeroDuration());
  EXPECT_GT(probe->instructions_per_second, 0);
  EXPECT_EQ(probe->native, probe->instructions_per_second >= kNativeThreshold);
  EXPECT_EQ(probe->pvm_module_loaded, access("/sys/module/kvm_pvm", F_OK) == 0);
  std::printf("%s\n", DescribeSpeedProbe(*probe).c_str());
}

TEST(SpeedProbeTest, MissingDevice) {
  EXPECT_EQ(ProbeKvmSpeed("/nonexistent/kvm").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ktvm::vmm::x86_64

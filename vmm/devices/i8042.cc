#include "vmm/devices/i8042.h"

namespace ktvm::vmm {
namespace {

constexpr uint64_t kDataOffset = 0;
constexpr uint64_t kCommandOffset = 4;
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kCmdReadCommandByte = 0x20;
constexpr uint8_t kCmdWriteCommandByte = 0x60;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kSelfTestPassed = 0x55;

}  // namespace

void I8042::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (uint8_t& b : data) {
    if (offset == kCommandOffset) {
      b = kStatusSystemFlag | (pending_output_ >= 0 ? kStatusOutputFull : 0);
    } else if (offset == kDataOffset && pending_output_ >= 0) {
      b = static_cast<uint8_t>(pending_output_);
      pending_output_ = -1;
    } else {
      b = 0;
    }
  }
}

void I8042::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  bool reset_now = false;
  {
    absl::MutexLock lock(&mu_);
    for (uint8_t value : data) {
      if (offset == kDataOffset) {
        if (expect_command_byte_) command_byte_ = value;
        expect_command_byte_ = false;
        continue;
      }
      if (offset != kCommandOffset) continue;
      switch (value) {
        case kCmdReadCommandByte:
          pending_output_ = command_byte_;
          break;
        case kCmdWriteCommandByte:
          expect_command_byte_ = true;
          break;
        case kCmdSelfTest:
          pending_output_ = kSelfTestPassed;
          break;
        case kI8042ResetCommand:
          if (!reset_) reset_now = true;
          reset_ = true;
          break;
        default:
          break;
      }
    }
  }
  if (reset_now && on_reset_) on_reset_();
}

bool I8042::reset_requested() const {
  absl::MutexLock lock(&mu_);
  return reset_;
}

}  // namespace ktvm::vmm

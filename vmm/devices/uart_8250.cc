#include "vmm/devices/uart_8250.h"

#include <string>

namespace ktvm::vmm {
namespace {

// Register offsets and bits from the 16550A data sheet.
constexpr uint64_t kRbrThrDll = 0;
constexpr uint64_t kIerDlm = 1;
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRdi = 0x01;
constexpr uint8_t kIerThri = 0x02;
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirThri = 0x02;
constexpr uint8_t kIirRdi = 0x04;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;
constexpr uint8_t kMcrLoop = 0x10;
// Carrier, data-set-ready and clear-to-send: a cable is always attached.
constexpr uint8_t kMsrConnected = 0xb0;

}  // namespace

void Uart8250::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < data.size(); ++i) data[i] = ReadRegister(offset + i);
  UpdateIrq();
}

void Uart8250::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  std::string out;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t reg = offset + i;
      if (reg == kRbrThrDll && !(lcr_ & kLcrDlab)) {
        if (mcr_ & kMcrLoop) {
          rx_.push_back(data[i]);
        } else {
          out.push_back(static_cast<char>(data[i]));
        }
        thre_pending_ = true;
      } else {
        WriteRegister(reg, data[i]);
      }
    }
    UpdateIrq();
  }
  // Outside the lock: the sink may block on stdout.
  if (!out.empty() && output_) output_(out);
}

void Uart8250::Receive(std::string_view bytes) {
  absl::MutexLock lock(&mu_);
  rx_.insert(rx_.end(), bytes.begin(), bytes.end());
  UpdateIrq();
}

uint8_t Uart8250::ReadRegister(uint64_t offset) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThrDll:
      if (dlab) return dll_;
      if (rx_.empty()) return 0;
      {
        const uint8_t b = rx_.front();
        rx_.pop_front();
        return b;
      }
    case kIerDlm:
      return dlab ? dlm_ : ier_;
    case kIirFcr: {
      const uint8_t id = InterruptId();
      if (id == kIirThri) thre_pending_ = false;
      return id | kIirFifoEnabled;
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      return kLsrThrEmpty | kLsrTransmitterEmpty |
             (rx_.empty() ? 0 : kLsrDataReady);
    case kMsr:
      if (mcr_ & kMcrLoop) {
        // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
        return ((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) |
               ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4);
      }
      return kMsrConnected;
    case kScr:
      return scr_;
    default:
      return 0xff;
  }
}

void Uart8250::WriteRegister(uint64_t offset, uint8_t value) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThrDll:
      dll_ = value;  // only reached with DLAB set
      break;
    case kIerDlm:
      if (dlab) {
        dlm_ = value;
      } else {
        // Enabling the THR-empty interrupt with an empty THR raises it at
        // once; Linux's 8250 driver checks for exactly that.
        if (!(ier_ & kIerThri) && (value & kIerThri)) thre_pending_ = true;
        ier_ = value & 0x0f;
      }
      break;
    case kIirFcr:
      break;  // FIFO control: our FIFO is unbounded and always on
    case kLcr:
      lcr_ = value;
      break;
    case kMcr:
      mcr_ = value & 0x1f;
      break;
    case kScr:
      scr_ = value;
      break;
    default:
      break;  // LSR and MSR are read-only
  }
}

uint8_t Uart8250::InterruptId() const {
  if ((ier_ & kIerRdi) && !rx_.empty()) return kIirRdi;
  if ((ier_ & kIerThri) && thre_pending_) return kIirThri;
  return kIirNoInterrupt;
}

void Uart8250::UpdateIrq() {
  const bool level = InterruptId() != kIirNoInterrupt;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_(level);
}

}  // namespace ktvm::vmm

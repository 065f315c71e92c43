#include "vmm/dump/scx_exit_monitor.h"

#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::ScxExitKind;

// The kernel's SCX_EXIT_BT_LEN and SCX_EXIT_MSG_LEN.
constexpr uint32_t kMaxBacktrace = 64;
constexpr size_t kMaxMessage = 1024;
// Bounded so a corrupt pointer cannot make the report huge.
constexpr size_t kMaxExitDump = 32 * 1024;

}  // namespace

std::string ScxExitKindName(int32_t kind) {
  if (!ktvm::report::ScxExitKind_IsValid(kind)) {
    return absl::StrFormat("UNKNOWN(%d)", kind);
  }
  return std::string(absl::StripPrefix(
      ktvm::report::ScxExitKind_Name(static_cast<ScxExitKind>(kind)),
      "SCX_EXIT_"));
}

absl::StatusOr<ScxExitMonitor> ScxExitMonitor::Create(
    const GuestKernel& kernel) {
  ScxExitMonitor m(kernel);
  absl::StatusOr<uint64_t> root = kernel.Symbol("scx_root");
  if (!root.ok()) return root.status();
  m.scx_root_ = *root;
  if (absl::Status s = kernel.ResolveOffsets({
          {&m.exit_kind_offset_, "scx_sched", "exit_kind"},
          {&m.exit_info_offset_, "scx_sched", "exit_info"},
          {&m.ops_name_offset_, "scx_sched", "ops.name"},
          {&m.ei_kind_, "scx_exit_info", "kind"},
          {&m.ei_exit_code_, "scx_exit_info", "exit_code"},
          {&m.ei_reason_, "scx_exit_info", "reason"},
          {&m.ei_bt_, "scx_exit_info", "bt"},
          {&m.ei_bt_len_, "scx_exit_info", "bt_len"},
          {&m.ei_msg_, "scx_exit_info", "msg"},
          {&m.ei_dump_, "scx_exit_info", "dump"},
      });
      !s.ok()) {
    return s;
  }
  return m;
}

absl::StatusOr<uint64_t> ScxExitMonitor::CurrentSched() const {
  return kernel_->ReadU64(scx_root_);
}

absl::StatusOr<int32_t> ScxExitMonitor::PollKind() const {
  absl::StatusOr<uint64_t> sched = CurrentSched();
  if (!sched.ok()) return sched.status();
  if (*sched == 0) return 0;
  absl::StatusOr<uint32_t> kind = kernel_->ReadU32(*sched + exit_kind_offset_);
  if (!kind.ok()) return kind.status();
  // The disable work moves exit_kind on to DONE as its first step and only
  // clears scx_root at the end of the teardown; exit_info->kind keeps the
  // kind that was claimed. Reading it while DONE keeps an error visible for
  // the whole teardown instead of only until the work item starts, which a
  // poller starved of host CPU can miss.
  if (*kind == ktvm::report::SCX_EXIT_DONE) {
    absl::StatusOr<uint64_t> ei = kernel_->ReadU64(*sched + exit_info_offset_);
    if (ei.ok() && *ei != 0) {
      absl::StatusOr<uint32_t> claimed = kernel_->ReadU32(*ei + ei_kind_);
      if (claimed.ok()) return static_cast<int32_t>(*claimed);
    }
  }
  return static_cast<int32_t>(*kind);
}

absl::StatusOr<ktvm::report::SchedExtExitInfo> ScxExitMonitor::ReadExitInfo()
    const {
  absl::StatusOr<uint64_t> sched = CurrentSched();
  if (!sched.ok()) return sched.status();
  if (*sched == 0) {
    return absl::NotFoundError("scx_root is NULL: no scheduler attached");
  }
  ktvm::report::SchedExtExitInfo out;
  absl::StatusOr<uint32_t> claimed =
      kernel_->ReadU32(*sched + exit_kind_offset_);
  if (!claimed.ok()) return claimed.status();
  absl::StatusOr<std::string> name =
      kernel_->ReadCString(*sched + ops_name_offset_, 128);
  if (name.ok()) out.set_scheduler_name(*name);

  absl::StatusOr<uint64_t> ei = kernel_->ReadU64(*sched + exit_info_offset_);
  if (!ei.ok()) return ei.status();
  if (*ei == 0) return absl::DataLossError("scx_sched.exit_info is NULL");
  // The kernel writes exit_info->kind after the backtrace and message, and
  // moves exit_kind on to DONE once the scheduler is torn down: the kind in
  // exit_info is the one the failure claimed.
  absl::StatusOr<uint32_t> ei_kind = kernel_->ReadU32(*ei + ei_kind_);
  const int32_t recorded = ei_kind.ok() ? static_cast<int32_t>(*ei_kind) : 0;
  const int32_t kind_value =
      recorded != 0 ? recorded : static_cast<int32_t>(*claimed);
  out.set_kind_value(kind_value);
  if (ktvm::report::ScxExitKind_IsValid(kind_value)) {
    out.set_kind(static_cast<ScxExitKind>(kind_value));
  }
  out.set_kind_name(ScxExitKindName(kind_value));
  out.set_complete(recorded != 0);
  if (absl::StatusOr<uint64_t> code = kernel_->ReadU64(*ei + ei_exit_code_);
      code.ok()) {
    out.set_exit_code(static_cast<int64_t>(*code));
  }
  if (absl::StatusOr<uint64_t> reason = kernel_->ReadU64(*ei + ei_reason_);
      reason.ok() && *reason != 0) {
    absl::StatusOr<std::string> text = kernel_->ReadCString(*reason, 256);
    if (text.ok()) out.set_reason(*text);
  }
  if (absl::StatusOr<uint64_t> msg = kernel_->ReadU64(*ei + ei_msg_);
      msg.ok() && *msg != 0) {
    absl::StatusOr<std::string> text = kernel_->ReadCString(*msg, kMaxMessage);
    if (text.ok()) out.set_msg(*text);
  }
  if (absl::StatusOr<uint64_t> dump = kernel_->ReadU64(*ei + ei_dump_);
      dump.ok() && *dump != 0) {
    absl::StatusOr<std::string> text =
        kernel_->ReadCString(*dump, kMaxExitDump);
    if (text.ok()) out.set_dump(*text);
  }
  absl::StatusOr<uint64_t> bt = kernel_->ReadU64(*ei + ei_bt_);
  absl::StatusOr<uint32_t> bt_len = kernel_->ReadU32(*ei + ei_bt_len_);
  if (bt.ok() && bt_len.ok() && *bt != 0) {
    const uint32_t frames = std::min(*bt_len, kMaxBacktrace);
    for (uint32_t i = 0; i < frames; ++i) {
      absl::StatusOr<uint64_t> address = kernel_->ReadU64(*bt + 8 * i);
      if (!address.ok()) break;
      ktvm::report::BacktraceFrame* frame = out.add_backtrace();
      frame->set_address(*address);
      std::optional<btf::SymbolizedAddress> sym =
          kernel_->symbols().Symbolize(*address);
      // BPF programs and modules live outside the core kallsyms table: the
      // last core symbol "covering" them would be a lie.
      if (sym.has_value() && (sym->size != 0 || sym->offset < 4096)) {
        frame->set_symbol(std::string(sym->name));
        frame->set_offset(sym->offset);
        frame->set_symbol_size(sym->size);
      }
    }
  }
  return out;
}

}  // namespace ktvm::dump

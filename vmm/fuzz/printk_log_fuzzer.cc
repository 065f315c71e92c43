// The printk ring buffer as a broken kernel left it: the input is guest
// memory (fuzz_guest.h) holding prb, the ring header, descriptors, infos
// and text, with lying lengths, ids and positions. ReadPrintkLog must stay
// inside what it read, return records oldest first, and the newest-N tail
// must not depend on how many records were asked for.
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "vmm/dump/printk_log.h"
#include "vmm/fuzz/fuzz_guest.h"

namespace {

using ktvm::report::KernelLog;

// printk_info.text_len is a u16.
constexpr size_t kMaxRecordText = 0xffff;
constexpr size_t kAll = 4096;
constexpr size_t kTail = 3;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ktvm::dump::fuzz::InitSharedFuzzGuest((*argv)[0]);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ktvm::dump::GuestKernel& k =
      ktvm::dump::fuzz::SharedFuzzGuest().Load(absl::MakeConstSpan(data, size));
  const absl::StatusOr<KernelLog> all = ktvm::dump::ReadPrintkLog(k, kAll);
  const absl::StatusOr<KernelLog> tail = ktvm::dump::ReadPrintkLog(k, kTail);
  if (all.ok() != tail.ok()) __builtin_trap();
  if (!all.ok()) return 0;
  if (all->records_size() > static_cast<int>(kAll)) __builtin_trap();
  for (int i = 0; i < all->records_size(); ++i) {
    if (all->records(i).text().size() > kMaxRecordText) __builtin_trap();
    if (i > 0 && all->records(i - 1).sequence() > all->records(i).sequence()) {
      __builtin_trap();  // not oldest first
    }
  }
  // The capped read keeps exactly the newest records of the full one.
  const int n = all->records_size();
  const int want = n < static_cast<int>(kTail) ? n : static_cast<int>(kTail);
  if (tail->records_size() != want) __builtin_trap();
  for (int i = 0; i < want; ++i) {
    const auto& a = all->records(n - want + i);
    const auto& t = tail->records(i);
    if (a.sequence() != t.sequence() || a.text() != t.text()) __builtin_trap();
  }
  return 0;
}

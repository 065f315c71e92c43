// The kernel log tail, read from the printk ring buffer in guest memory
// (prb -> printk_ringbuffer: descriptor ring, info array, text data ring),
// so the report holds what the kernel logged even when the console did not
// print it (loglevel) or the host missed it.
#ifndef KTVM_VMM_DUMP_PRINTK_LOG_H_
#define KTVM_VMM_DUMP_PRINTK_LOG_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/kernel_bootstrap.h"

namespace ktvm::dump {

// The newest `max_records` finalized or committed records, oldest first.
// Records whose descriptor or text is torn are skipped (counted in
// `dropped`).
absl::StatusOr<ktvm::report::KernelLog> ReadPrintkLog(const GuestKernel& kernel,
                                                      size_t max_records);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_PRINTK_LOG_H_

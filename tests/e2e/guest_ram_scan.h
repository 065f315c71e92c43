// Scans guest RAM (as the QEMU backend maps it) for things a test can
// recognise without symbols: VMCOREINFO text and ktvm_fifo's task contexts.
#ifndef KTVM_TESTS_E2E_GUEST_RAM_SCAN_H_
#define KTVM_TESTS_E2E_GUEST_RAM_SCAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/backend/ram_file_mapping.h"

namespace ktvm::e2e {

// Values of every "OSRELEASE=<value>\n" found in RAM (format strings such as
// "OSRELEASE=%s" included).
std::vector<std::string> FindOsReleases(const backend::RamFileMapping& ram);

// An sdt_data element holding struct ktvm_task_ctx, found by its magic.
struct TaskCtxEntry {
  uint64_t gpa;  // of the sdt_data header
  int32_t idx;
  int32_t genn;
  int32_t pid;
  uint64_t counter;
};

// Elements whose magic sits where ktvm_fifo's allocator puts it: slabs are
// single pages of 24-byte elements, so headers are at page offsets 24 * k.
std::vector<TaskCtxEntry> FindTaskContexts(const backend::RamFileMapping& ram);

}  // namespace ktvm::e2e

#endif  // KTVM_TESTS_E2E_GUEST_RAM_SCAN_H_

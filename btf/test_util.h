// Test-only helpers: locating runfiles and loading the fixture BTF.
#ifndef KTVM_BTF_TEST_UTIL_H_
#define KTVM_BTF_TEST_UTIL_H_

#include <string>

#include "btf/btf_ptr.h"

struct bpf_object;

namespace ktvm::btf::testing {

// Path of a data dependency: tries the workspace-relative path, then
// "external/<repo>/..." and "../<repo>/..." spellings for external repos.
std::string RunfilePath(const std::string& rel);

// BTF of testdata/fixture.bpf.o exactly as clang emitted it (DATASEC
// offsets are still 0 there: the ELF symbol table holds them).
BtfPtr LoadFixtureBtfRaw();

// The fixture object opened by libbpf, whose BTF has DATASEC offsets and
// sizes filled in from the symbol table. Caller closes it.
struct bpf_object* OpenFixtureObject();

}  // namespace ktvm::btf::testing

#endif  // KTVM_BTF_TEST_UTIL_H_

// Loads the program BTF of a compiled BPF fixture the way the kernel ends
// up with it: libbpf opens the object and fills in DATASEC sizes and
// variable offsets (clang leaves them 0), then the BTF is copied out so the
// object can be closed.
#ifndef KTVM_SDT_TESTING_PROGRAM_BTF_H_
#define KTVM_SDT_TESTING_PROGRAM_BTF_H_

#include <string>

#include "absl/status/statusor.h"
#include "btf/btf_ptr.h"

struct btf;

namespace ktvm::sdt::testing {

// `fixture` is a name under sdt/testdata without ".bpf.o", e.g.
// "sdt_fixture". With `base` non-null the result is split BTF over `base`
// (which must outlive it) with the program's types appended and
// renumbered, as a program BTF read next to vmlinux would be.
absl::StatusOr<btf::BtfPtr> LoadProgramBtf(const std::string& fixture,
                                           const struct ::btf* base = nullptr);

// The same for any BPF object given by its runfiles path, e.g. the test
// scheduler "tests/schedulers/ktvm_fifo.bpf.o".
absl::StatusOr<btf::BtfPtr> LoadObjectBtf(const std::string& runfile,
                                          const struct ::btf* base = nullptr);

// vmlinux BTF of the test kernel (@kernel//:vmlinux).
absl::StatusOr<btf::BtfPtr> LoadTestVmlinuxBtf();

}  // namespace ktvm::sdt::testing

#endif  // KTVM_SDT_TESTING_PROGRAM_BTF_H_

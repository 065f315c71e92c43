#include "sdt/testing/program_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/test_util.h"

namespace ktvm::sdt::testing {
namespace {

struct ObjectCloser {
  void operator()(struct bpf_object* o) const { bpf_object__close(o); }
};

}  // namespace

absl::StatusOr<btf::BtfPtr> LoadProgramBtf(const std::string& fixture,
                                           const struct ::btf* base) {
  return LoadObjectBtf("sdt/testdata/" + fixture + ".bpf.o", base);
}

absl::StatusOr<btf::BtfPtr> LoadObjectBtf(const std::string& runfile,
                                          const struct ::btf* base) {
  const std::string path = btf::testing::RunfilePath(runfile);
  std::unique_ptr<struct bpf_object, ObjectCloser> obj(
      bpf_object__open_file(path.c_str(), nullptr));
  if (!obj || libbpf_get_error(obj.get())) {
    obj.release();
    return absl::NotFoundError(absl::StrFormat("libbpf cannot open %s: %s",
                                               path, std::strerror(errno)));
  }
  const struct ::btf* program = bpf_object__btf(obj.get());
  if (program == nullptr) {
    return absl::NotFoundError(absl::StrFormat("%s has no BTF", path));
  }
  struct ::btf* copy = nullptr;
  if (base == nullptr) {
    uint32_t size = 0;
    const void* raw = btf__raw_data(program, &size);
    copy = btf__new(raw, size);
  } else {
    // The program's type ids start at 1; appending through btf__add_btf
    // renumbers them after the base's.
    copy = btf__new_empty_split(const_cast<struct ::btf*>(base));
    if (copy != nullptr && btf__add_btf(copy, program) < 0) {
      btf__free(copy);
      copy = nullptr;
    }
  }
  if (copy == nullptr || libbpf_get_error(copy)) {
    return absl::InternalError(absl::StrFormat(
        "copying the BTF of %s failed: %s", path, std::strerror(errno)));
  }
  return btf::BtfPtr(copy);
}

absl::StatusOr<btf::BtfPtr> LoadTestVmlinuxBtf() {
  const std::string path = btf::testing::RunfilePath("external/kernel/vmlinux");
  struct ::btf* b = btf__parse_elf(path.c_str(), nullptr);
  if (b == nullptr || libbpf_get_error(b)) {
    return absl::NotFoundError(absl::StrFormat("cannot read BTF from %s: %s",
                                               path, std::strerror(errno)));
  }
  return btf::BtfPtr(b);
}

}  // namespace ktvm::sdt::testing

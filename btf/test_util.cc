#include "btf/test_util.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ktvm::btf::testing {

std::string RunfilePath(const std::string& rel) {
  std::vector<std::string> candidates = {rel};
  if (rel.rfind("external/", 0) == 0) {
    candidates.push_back("../" + rel.substr(9));
  }
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    candidates.push_back(std::string(srcdir) + "/ktvm/" + rel);
    if (rel.rfind("external/", 0) == 0) {
      candidates.push_back(std::string(srcdir) + "/" + rel.substr(9));
    }
  }
  for (const std::string& c : candidates) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  return rel;
}

BtfPtr LoadFixtureBtfRaw() {
  const std::string path = RunfilePath("btf/testdata/fixture.bpf.o");
  struct ::btf* b = btf__parse(path.c_str(), nullptr);
  if (b == nullptr || libbpf_get_error(b)) {
    std::fprintf(stderr, "cannot parse BTF of %s\n", path.c_str());
    std::abort();
  }
  return BtfPtr(b);
}

struct bpf_object* OpenFixtureObject() {
  const std::string path = RunfilePath("btf/testdata/fixture.bpf.o");
  struct bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr || libbpf_get_error(obj)) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::abort();
  }
  return obj;
}

}  // namespace ktvm::btf::testing

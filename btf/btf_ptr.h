// Owning handle for libbpf's struct btf.
#ifndef KTVM_BTF_BTF_PTR_H_
#define KTVM_BTF_BTF_PTR_H_

#include <memory>

struct btf;

namespace ktvm::btf {

struct BtfDeleter {
  void operator()(struct ::btf* b) const;
};

using BtfPtr = std::unique_ptr<struct ::btf, BtfDeleter>;

}  // namespace ktvm::btf

#endif  // KTVM_BTF_BTF_PTR_H_

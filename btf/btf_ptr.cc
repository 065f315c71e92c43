#include "btf/btf_ptr.h"

#include <bpf/btf.h>

namespace ktvm::btf {

void BtfDeleter::operator()(struct ::btf* b) const { btf__free(b); }

}  // namespace ktvm::btf

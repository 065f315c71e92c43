// Where vmlinux (and BPF program) BTF comes from: raw BTF bytes or files, an
// ELF's .BTF section, a bzImage's compressed payload (cached by hash), or the
// kernel's own copy in guest memory (__start_BTF..__stop_BTF).
#ifndef KTVM_BTF_BTF_SOURCE_H_
#define KTVM_BTF_BTF_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "btf/btf_ptr.h"
#include "btf/read_virtual.h"

namespace ktvm::memory {
class VirtualMemoryReader;
}  // namespace ktvm::memory

namespace ktvm::btf {

// Parses raw BTF (what .BTF holds, or /sys/kernel/btf/vmlinux).
absl::StatusOr<BtfPtr> BtfFromRawBytes(absl::Span<const uint8_t> data);

// Parses split BTF (a BPF program's or a module's) over `base`, which must
// outlive the result.
absl::StatusOr<BtfPtr> SplitBtfFromRawBytes(absl::Span<const uint8_t> data,
                                            struct ::btf* base);

// A raw BTF file or an ELF file with a .BTF section (detected by magic).
absl::StatusOr<BtfPtr> BtfFromFile(const std::string& path);

// The bytes of the .BTF section of an in-memory ELF image.
absl::StatusOr<std::vector<uint8_t>> BtfSectionFromElf(
    absl::Span<const uint8_t> elf);

// Decompresses a bzImage's payload (setup header -> payload_offset/length,
// compression chosen by magic) and returns the .BTF section of the ELF
// vmlinux inside. No caching.
absl::StatusOr<std::vector<uint8_t>> ExtractBtfFromBzImage(
    absl::Span<const uint8_t> bzimage);

struct BzImageBtfOptions {
  // Empty = $KTVM_CACHE_DIR, else $XDG_CACHE_HOME/ktvm, else ~/.cache/ktvm.
  std::string cache_dir;
  bool use_cache = true;
};

struct VmlinuxBtf {
  BtfPtr btf;
  // Hex SHA-256 of the bzImage file (the cache key).
  std::string bzimage_sha256;
  bool from_cache = false;
  // Where the extracted BTF is cached (empty when caching is off/failed).
  std::string cache_path;
};

// vmlinux BTF of a bzImage file, from the cache when it holds this image's
// hash, else extracted and cached (written atomically; a cache that cannot
// be written is not an error).
absl::StatusOr<VmlinuxBtf> VmlinuxBtfFromBzImage(
    const std::string& bzimage_path, const BzImageBtfOptions& opts = {});

// The cache directory the options resolve to.
std::string ResolveCacheDir(const BzImageBtfOptions& opts);

// The kernel's .BTF copy in guest memory, [start_va, stop_va) being
// __start_BTF..__stop_BTF from kallsyms.
absl::StatusOr<BtfPtr> BtfFromGuestMemory(const ReadVirtualFn& read,
                                          uint64_t start_va, uint64_t stop_va);
// The same through a page-table reader (btf_source_guest.cc).
absl::StatusOr<BtfPtr> BtfFromGuestMemory(
    const memory::VirtualMemoryReader& mem, uint64_t start_va,
    uint64_t stop_va);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_BTF_SOURCE_H_

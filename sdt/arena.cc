#include "sdt/arena.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "btf/type_lookup.h"
#include "memory/address_translator.h"
#include "memory/guest_memory.h"
#include "memory/virtual_memory.h"

namespace ktvm::sdt {
namespace {

constexpr uint64_t kFourGiB = 1ULL << 32;

absl::StatusOr<uint64_t> ReadKernelU64(
    const memory::VirtualMemoryReader& kernel_memory, uint64_t va,
    const char* what) {
  uint8_t buf[8];
  absl::Status st = kernel_memory.ReadVirtual(va, absl::MakeSpan(buf));
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrFormat("reading %s at 0x%x: %s", what, va,
                                        std::string(st.message())));
  }
  uint64_t value;
  std::memcpy(&value, buf, sizeof(value));
  return value;
}

absl::StatusOr<uint64_t> MemberByteOffset(const struct ::btf* btf,
                                          const char* struct_name,
                                          const char* member) {
  absl::StatusOr<uint32_t> id = btf::RequireFullStruct(btf, struct_name);
  if (!id.ok()) {
    return absl::Status(
        id.status().code(),
        absl::StrFormat("vmlinux BTF: struct %s: %s", struct_name,
                        std::string(id.status().message())));
  }
  absl::StatusOr<btf::MemberLocation> loc = btf::MemberOffset(btf, *id, member);
  if (!loc.ok()) {
    return absl::Status(
        loc.status().code(),
        absl::StrFormat("vmlinux BTF: struct %s member %s: %s", struct_name,
                        member, std::string(loc.status().message())));
  }
  return loc->byte_offset;
}

}  // namespace

uint64_t ArenaGuardSize(uint64_t page_size) {
  const uint64_t align = page_size * 2;
  const uint64_t min = 1ULL << 16;
  if (align == 0) return min;
  return (min + align - 1) / align * align;
}

absl::Status ValidateArenaWindow(const ArenaWindow& window) {
  if (window.page_size == 0 ||
      (window.page_size & (window.page_size - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "arena page size %u is not a power of two", window.page_size));
  }
  if (window.user_vm_end < window.user_vm_start) {
    return absl::InvalidArgumentError(
        absl::StrFormat("arena user_vm_end 0x%x below user_vm_start 0x%x",
                        window.user_vm_end, window.user_vm_start));
  }
  const uint64_t span = window.user_vm_end - window.user_vm_start;
  if (span > kFourGiB) {
    return absl::InvalidArgumentError(
        absl::StrFormat("arena window [0x%x, 0x%x) is larger than 4 GiB",
                        window.user_vm_start, window.user_vm_end));
  }
  if (span != 0 &&
      (window.user_vm_start >> 32) != ((window.user_vm_end - 1) >> 32)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("arena window [0x%x, 0x%x) crosses a 4 GiB boundary",
                        window.user_vm_start, window.user_vm_end));
  }
  if (window.user_vm_start % window.page_size != 0 ||
      span % window.page_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("arena window [0x%x, 0x%x) is not page aligned",
                        window.user_vm_start, window.user_vm_end));
  }
  return absl::OkStatus();
}

absl::StatusOr<ArenaWindow> ArenaWindowFromMap(
    const memory::VirtualMemoryReader& kernel_memory,
    const struct ::btf* vmlinux_btf, uint64_t bpf_map_kva, uint64_t page_size) {
  absl::StatusOr<uint64_t> map_off =
      MemberByteOffset(vmlinux_btf, "bpf_arena", "map");
  if (!map_off.ok()) return map_off.status();
  absl::StatusOr<uint64_t> start_off =
      MemberByteOffset(vmlinux_btf, "bpf_arena", "user_vm_start");
  if (!start_off.ok()) return start_off.status();
  absl::StatusOr<uint64_t> end_off =
      MemberByteOffset(vmlinux_btf, "bpf_arena", "user_vm_end");
  if (!end_off.ok()) return end_off.status();
  absl::StatusOr<uint64_t> kern_vm_off =
      MemberByteOffset(vmlinux_btf, "bpf_arena", "kern_vm");
  if (!kern_vm_off.ok()) return kern_vm_off.status();
  absl::StatusOr<uint64_t> addr_off =
      MemberByteOffset(vmlinux_btf, "vm_struct", "addr");
  if (!addr_off.ok()) return addr_off.status();

  const uint64_t arena_kva = bpf_map_kva - *map_off;
  ArenaWindow window;
  window.page_size = page_size;
  absl::StatusOr<uint64_t> v = ReadKernelU64(
      kernel_memory, arena_kva + *start_off, "bpf_arena.user_vm_start");
  if (!v.ok()) return v.status();
  window.user_vm_start = *v;
  v = ReadKernelU64(kernel_memory, arena_kva + *end_off,
                    "bpf_arena.user_vm_end");
  if (!v.ok()) return v.status();
  window.user_vm_end = *v;
  absl::StatusOr<uint64_t> kern_vm = ReadKernelU64(
      kernel_memory, arena_kva + *kern_vm_off, "bpf_arena.kern_vm");
  if (!kern_vm.ok()) return kern_vm.status();
  if (*kern_vm == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("bpf_arena at 0x%x has a NULL kern_vm", arena_kva));
  }
  absl::StatusOr<uint64_t> vm_addr =
      ReadKernelU64(kernel_memory, *kern_vm + *addr_off, "vm_struct.addr");
  if (!vm_addr.ok()) return vm_addr.status();
  window.kern_vm_start = *vm_addr + ArenaGuardSize(page_size) / 2;

  // nr_pages is a newer member; older kernels simply lack it.
  absl::StatusOr<uint64_t> nr_pages_off =
      MemberByteOffset(vmlinux_btf, "bpf_arena", "nr_pages");
  if (nr_pages_off.ok()) {
    absl::StatusOr<uint64_t> nr = ReadKernelU64(
        kernel_memory, arena_kva + *nr_pages_off, "bpf_arena.nr_pages");
    if (nr.ok()) window.nr_pages = *nr;
  }

  if (absl::Status st = ValidateArenaWindow(window); !st.ok()) {
    return absl::DataLossError(absl::StrFormat(
        "bpf_arena at 0x%x: %s", arena_kva, std::string(st.message())));
  }
  return window;
}

absl::StatusOr<ktvm::report::ArenaSnapshot> SnapshotArena(
    const memory::GuestMemory& memory,
    const memory::AddressTranslator& translator, const ArenaWindow& window,
    const ArenaSnapshotOptions& options) {
  if (absl::Status st = ValidateArenaWindow(window); !st.ok()) return st;

  ktvm::report::ArenaSnapshot snap;
  snap.set_user_vm_start(window.user_vm_start);
  snap.set_user_vm_end(window.user_vm_end);
  snap.set_kern_vm_start(window.kern_vm_start);
  snap.set_page_size(static_cast<uint32_t>(window.page_size));
  snap.set_declared_pages(window.declared_pages());
  snap.set_captured_bytes_cap(options.max_captured_bytes);

  uint64_t scan_pages = window.declared_pages();
  if (scan_pages > options.max_scanned_pages) {
    scan_pages = options.max_scanned_pages;
    snap.set_truncated(true);
  }

  // Pass 1: translate only, so a frame shared by several pages (the
  // scratch page) is known before any bytes are copied.
  struct MappedPage {
    uint64_t index;
    uint64_t phys;
  };
  std::vector<MappedPage> mapped;
  absl::flat_hash_map<uint64_t, uint32_t> frame_uses;
  for (uint64_t i = 0; i < scan_pages; ++i) {
    const uint64_t user = window.user_vm_start + i * window.page_size;
    absl::StatusOr<memory::Translation> t =
        translator.Translate(memory, window.KernelAddress(user));
    if (!t.ok()) continue;
    const uint64_t frame = t->phys_addr & ~(window.page_size - 1);
    mapped.push_back({i, frame});
    ++frame_uses[frame];
  }

  uint64_t unmapped = scan_pages;
  uint64_t captured = 0;
  for (const MappedPage& page : mapped) {
    if (frame_uses[page.phys] > 1) continue;
    --unmapped;
    if (captured + window.page_size > options.max_captured_bytes) {
      snap.set_truncated(true);
      continue;
    }
    std::string data(window.page_size, '\0');
    absl::Status st = memory.Read(
        page.phys,
        absl::MakeSpan(reinterpret_cast<uint8_t*>(data.data()), data.size()));
    if (!st.ok()) {
      // A PTE pointing outside guest RAM: mapped, but nothing to copy.
      continue;
    }
    ktvm::report::ArenaPage* out = snap.add_pages();
    out->set_user_addr(window.user_vm_start + page.index * window.page_size);
    out->set_data(std::move(data));
    captured += window.page_size;
  }
  snap.set_unmapped_pages(unmapped);
  return snap;
}

}  // namespace ktvm::sdt

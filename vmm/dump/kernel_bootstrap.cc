#include "vmm/dump/kernel_bootstrap.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "btf/btf_source.h"
#include "btf/kernel_image_reader.h"

namespace ktvm::dump {
namespace {

memory::X86PagingMode PagingMode(const btf::Vmcoreinfo& info) {
  return info.pgtable_l5_enabled.value_or(false)
             ? memory::X86PagingMode::kFiveLevel
             : memory::X86PagingMode::kFourLevel;
}

constexpr uint64_t kPageBytes = 4096;

uint64_t PageTableRootPhys(const btf::Vmcoreinfo& info) {
  return info.KernelPageTableRoot().value_or(0) - btf::kX86StartKernelMap +
         info.phys_base.value_or(0);
}

}  // namespace

GuestKernel::GuestKernel(const memory::GuestMemory& memory,
                         btf::Vmcoreinfo info, btf::SymbolTable symbols,
                         const struct ::btf* vmlinux_btf,
                         uint64_t page_offset_base)
    : physical_(memory),
      info_(std::move(info)),
      symbols_(std::move(symbols)),
      btf_(vmlinux_btf),
      page_offset_base_(page_offset_base),
      translator_(PageTableRootPhys(info_), PagingMode(info_)),
      kernel_memory_(memory, translator_,
                     {.page_offset_base = page_offset_base,
                      .phys_base = info_.phys_base.value_or(0)}) {}

absl::StatusOr<uint64_t> GuestKernel::Symbol(std::string_view name) const {
  std::optional<uint64_t> address = symbols_.Lookup(name);
  if (!address.has_value()) address = info_.Symbol(name);
  if (!address.has_value()) {
    return absl::NotFoundError(
        absl::StrFormat("kernel symbol %s not in kallsyms", name));
  }
  return *address;
}

absl::StatusOr<uint64_t> GuestKernel::Offset(
    std::string_view struct_name, std::string_view member_path) const {
  absl::StatusOr<uint32_t> id = btf::RequireFullStruct(btf(), struct_name);
  if (!id.ok()) return id.status();
  absl::StatusOr<btf::MemberLocation> where =
      btf::MemberOffset(btf(), *id, member_path);
  if (!where.ok()) return where.status();
  return where->byte_offset;
}

absl::Status GuestKernel::ResolveOffsets(
    absl::Span<const FieldOffset> fields) const {
  for (const FieldOffset& f : fields) {
    absl::StatusOr<uint64_t> offset = Offset(f.type, f.member);
    if (!offset.ok()) {
      return absl::NotFoundError(absl::StrFormat("%s.%s: %s", f.type, f.member,
                                                 offset.status().message()));
    }
    *f.out = *offset;
  }
  return absl::OkStatus();
}

void GuestKernel::ResolveOptionalOffsets(
    absl::Span<const OptionalFieldOffset> fields) const {
  for (const OptionalFieldOffset& f : fields) {
    absl::StatusOr<uint64_t> offset = Offset(f.type, f.member);
    if (offset.ok()) *f.out = *offset;
  }
}

absl::StatusOr<uint64_t> GuestKernel::ReadU64(uint64_t va) const {
  return kernel_memory_.ReadVirtualU64(va);
}

absl::StatusOr<uint32_t> GuestKernel::ReadU32(uint64_t va) const {
  return kernel_memory_.ReadVirtualU32(va);
}

absl::StatusOr<std::string> GuestKernel::ReadCString(uint64_t va,
                                                     size_t max_len) const {
  if (va == 0) return absl::InvalidArgumentError("NULL string pointer");
  std::string out;
  // Page by page, so a string ending just before an unmapped page reads.
  while (out.size() < max_len) {
    const uint64_t cursor = va + out.size();
    const size_t in_page = 4096 - (cursor & 4095);
    std::vector<uint8_t> chunk(std::min(in_page, max_len - out.size()));
    if (absl::Status s =
            kernel_memory_.ReadVirtual(cursor, absl::MakeSpan(chunk));
        !s.ok()) {
      if (out.empty()) return s;
      break;
    }
    for (uint8_t c : chunk) {
      if (c == 0) return out;
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string GuestKernel::Symbolize(uint64_t address) const {
  return symbols_.Format(address);
}

void GuestKernel::FillLayout(ktvm::report::GuestLayout& layout) const {
  layout.set_kaslr_offset(info_.kernel_offset);
  layout.set_phys_base(info_.phys_base.value_or(0));
  layout.set_page_offset(page_offset_base_);
  layout.set_kernel_page_table_root(translator_.root());
  layout.set_five_level_paging(translator_.mode() ==
                               memory::X86PagingMode::kFiveLevel);
  layout.set_vmcoreinfo_phys_addr(info_.found_at_gpa);
  layout.set_kallsyms_count(symbols_.size());
  layout.set_btf_type_count(btf__type_cnt(btf_));
}

absl::StatusOr<btf::BtfPtr> LoadVmlinuxBtf(const BootstrapOptions& options) {
  btf::BzImageBtfOptions btf_options;
  btf_options.cache_dir = options.btf_cache_dir;
  absl::StatusOr<btf::VmlinuxBtf> loaded =
      btf::VmlinuxBtfFromBzImage(options.bzimage_path, btf_options);
  if (!loaded.ok()) return loaded.status();
  return std::move(loaded->btf);
}

absl::StatusOr<btf::Vmcoreinfo> FindVmcoreinfoInMemory(
    const memory::GuestMemory& memory, VmcoreinfoScan scan) {
  absl::StatusOr<btf::Vmcoreinfo> info =
      absl::NotFoundError("guest memory has no regions");
  for (const memory::MemoryRegion& region : memory.regions()) {
    if (scan == VmcoreinfoScan::kEveryByte) {
      info = btf::FindVmcoreinfo(absl::MakeConstSpan(region.host, region.size),
                                 region.guest_phys);
      if (info.ok()) return info;
      continue;
    }
    // The kernel's note (vmcoreinfo_note) comes from alloc_pages_exact:
    // the ELF note header starts a page, its name follows at offset 12.
    // Looking there only touches one cache line per page.
    static constexpr char kName[] = "VMCOREINFO";
    for (uint64_t page = 0; page + kPageBytes <= region.size;
         page += kPageBytes) {
      if (std::memcmp(region.host + page + 12, kName, sizeof(kName)) != 0) {
        continue;
      }
      const uint64_t window =
          std::min<uint64_t>(2 * kPageBytes, region.size - page);
      info =
          btf::FindVmcoreinfo(absl::MakeConstSpan(region.host + page, window),
                              region.guest_phys + page);
      if (info.ok()) return info;
    }
  }
  if (info.ok()) return info;
  return absl::NotFoundError("no VMCOREINFO note at the start of any page");
}

absl::StatusOr<std::unique_ptr<GuestKernel>> BootstrapGuestKernel(
    const memory::GuestMemory& memory, const struct ::btf* vmlinux_btf,
    VmcoreinfoScan scan) {
  absl::StatusOr<btf::Vmcoreinfo> info = FindVmcoreinfoInMemory(memory, scan);
  if (!info.ok()) {
    return absl::UnavailableError(absl::StrFormat(
        "no VMCOREINFO in guest memory yet: %s", info.status().message()));
  }
  if (!info->phys_base.has_value() || !info->KernelPageTableRoot()) {
    return absl::FailedPreconditionError(
        "VMCOREINFO lacks NUMBER(phys_base) or the page-table root");
  }
  absl::StatusOr<btf::KallsymsTables> tables =
      btf::KallsymsTablesFromVmcoreinfo(*info);
  if (!tables.ok()) return tables.status();
  const btf::ReadVirtualFn image = btf::KernelImageReader(
      [&memory](uint64_t pa, absl::Span<uint8_t> out) {
        return memory.Read(pa, out);
      },
      *info->phys_base);
  absl::StatusOr<btf::SymbolTable> symbols =
      btf::DecodeKallsyms(image, *tables);
  if (!symbols.ok()) return symbols.status();
  // KASLR randomises the direct map too; the kernel keeps its base here.
  const std::optional<uint64_t> pob_symbol =
      symbols->Lookup("page_offset_base");
  if (!pob_symbol.has_value()) {
    return absl::NotFoundError("page_offset_base not in kallsyms");
  }
  uint64_t page_offset_base = 0;
  if (absl::Status s =
          image(*pob_symbol,
                absl::MakeSpan(reinterpret_cast<uint8_t*>(&page_offset_base),
                               sizeof(page_offset_base)));
      !s.ok()) {
    return s;
  }
  return std::make_unique<GuestKernel>(memory, *std::move(info),
                                       *std::move(symbols), vmlinux_btf,
                                       page_offset_base);
}

}  // namespace ktvm::dump

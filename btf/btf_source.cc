#include "btf/btf_source.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/bzimage.h"
#include "btf/mapped_file.h"

namespace ktvm::btf {
namespace {

constexpr uint16_t kBtfMagic = 0xeB9F;

absl::StatusOr<BtfPtr> Adopt(struct ::btf* b, const char* what) {
  const long err = libbpf_get_error(b);
  if (b == nullptr || err != 0) {
    const int e = err != 0 ? static_cast<int>(-err) : errno;
    return absl::DataLossError(absl::StrFormat(
        "%s: libbpf rejected the BTF: %s", what, std::strerror(e)));
  }
  return BtfPtr(b);
}

absl::Status CheckHeader(absl::Span<const uint8_t> data) {
  // libbpf checks this too; a precise message helps the user more.
  if (data.size() < 24) {
    return absl::DataLossError(absl::StrFormat(
        "BTF is %u bytes, shorter than its 24-byte header", data.size()));
  }
  const uint16_t magic = data[0] | (data[1] << 8);
  if (magic != kBtfMagic) {
    return absl::DataLossError(absl::StrFormat(
        "bad BTF magic 0x%04x (want 0x%04x)", magic, kBtfMagic));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BtfPtr> BtfFromRawBytes(absl::Span<const uint8_t> data) {
  if (absl::Status s = CheckHeader(data); !s.ok()) return s;
  return Adopt(btf__new(data.data(), data.size()), "raw BTF");
}

absl::StatusOr<BtfPtr> SplitBtfFromRawBytes(absl::Span<const uint8_t> data,
                                            struct ::btf* base) {
  if (base == nullptr) return absl::InvalidArgumentError("null base BTF");
  if (absl::Status s = CheckHeader(data); !s.ok()) return s;
  return Adopt(btf__new_split(data.data(), data.size(), base), "split BTF");
}

absl::StatusOr<std::vector<uint8_t>> BtfSectionFromElf(
    absl::Span<const uint8_t> image) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError("libelf version mismatch");
  }
  Elf* elf =
      elf_memory(reinterpret_cast<char*>(const_cast<uint8_t*>(image.data())),
                 image.size());
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    if (elf != nullptr) elf_end(elf);
    return absl::InvalidArgumentError("not an ELF image");
  }
  size_t shstrndx = 0;
  absl::StatusOr<std::vector<uint8_t>> result =
      absl::NotFoundError("ELF has no .BTF section");
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
    result = absl::DataLossError(
        absl::StrFormat("ELF section header string table: %s", elf_errmsg(-1)));
  } else {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr;
         scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
      if (name == nullptr || std::strcmp(name, ".BTF") != 0) continue;
      if (sh.sh_type == SHT_NOBITS || sh.sh_offset > image.size() ||
          sh.sh_size > image.size() - sh.sh_offset) {
        result = absl::DataLossError(absl::StrFormat(
            ".BTF section [0x%x, +0x%x) lies outside the %u-byte ELF",
            sh.sh_offset, sh.sh_size, image.size()));
        break;
      }
      const uint8_t* p = image.data() + sh.sh_offset;
      result = std::vector<uint8_t>(p, p + sh.sh_size);
      break;
    }
  }
  elf_end(elf);
  return result;
}

absl::StatusOr<BtfPtr> BtfFromFile(const std::string& path) {
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  const absl::Span<const uint8_t> bytes = file->bytes();
  if (bytes.size() >= 4 && std::memcmp(bytes.data(),
                                       "\x7f"
                                       "ELF",
                                       4) == 0) {
    absl::StatusOr<std::vector<uint8_t>> sec = BtfSectionFromElf(bytes);
    if (!sec.ok()) {
      return absl::Status(
          sec.status().code(),
          absl::StrFormat("%s: %s", path, sec.status().message()));
    }
    return BtfFromRawBytes(*sec);
  }
  absl::StatusOr<BtfPtr> btf = BtfFromRawBytes(bytes);
  if (!btf.ok()) {
    return absl::Status(
        btf.status().code(),
        absl::StrFormat("%s: %s", path, btf.status().message()));
  }
  return btf;
}

absl::StatusOr<std::vector<uint8_t>> ExtractBtfFromBzImage(
    absl::Span<const uint8_t> bzimage) {
  absl::StatusOr<BzImagePayload> payload = LocatePayload(bzimage);
  if (!payload.ok()) return payload.status();
  absl::StatusOr<std::vector<uint8_t>> elf =
      DecompressPayload(payload->data, payload->compression);
  if (!elf.ok()) return elf.status();
  absl::StatusOr<std::vector<uint8_t>> btf = BtfSectionFromElf(*elf);
  if (!btf.ok()) {
    return absl::Status(btf.status().code(),
                        absl::StrFormat("decompressed %s payload: %s",
                                        CompressionName(payload->compression),
                                        btf.status().message()));
  }
  return btf;
}

absl::StatusOr<BtfPtr> BtfFromGuestMemory(const ReadVirtualFn& read,
                                          uint64_t start_va, uint64_t stop_va) {
  // vmlinux BTF is ~6 MB; far larger means the symbols lie.
  constexpr uint64_t kMaxGuestBtfBytes = 256ull << 20;
  if (stop_va <= start_va || stop_va - start_va > kMaxGuestBtfBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "implausible BTF range [0x%x, 0x%x) (__start_BTF..__stop_BTF)",
        start_va, stop_va));
  }
  std::vector<uint8_t> buf(stop_va - start_va);
  if (absl::Status s = read(start_va, absl::MakeSpan(buf)); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrFormat("reading guest BTF at 0x%x (%u bytes): %s",
                                  start_va, buf.size(), s.message()));
  }
  return BtfFromRawBytes(buf);
}

}  // namespace ktvm::btf

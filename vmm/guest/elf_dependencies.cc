#include "vmm/guest/elf_dependencies.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace ktvm::guest {
namespace {

// ld.so's built-in search list on Debian amd64 (multiarch first).
constexpr const char* kSystemLibraryDirs[] = {
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

absl::Status ElfError(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: %s: %s", path, what, elf_errmsg(elf_errno())));
}

absl::Status CheckHeaderTablesInFile(Elf* elf, const std::string& path) {
  GElf_Ehdr ehdr;
  size_t size = 0;
  if (gelf_getehdr(elf, &ehdr) == nullptr ||
      elf_rawfile(elf, &size) == nullptr) {
    return ElfError(path, "cannot read the ELF header");
  }
  const uint64_t ph_end =
      ehdr.e_phoff + uint64_t{ehdr.e_phnum} * ehdr.e_phentsize;
  const uint64_t sh_end =
      ehdr.e_shoff + uint64_t{ehdr.e_shnum} * ehdr.e_shentsize;
  if (ph_end > size || sh_end > size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is truncated: its header tables end at byte %d of %d", path,
        std::max(ph_end, sh_end), size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ElfInfo> ReadElfInfo(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError("libelf initialisation failed");
  }
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::NotFoundError(
        absl::StrFormat("cannot open %s: %s", path, strerror(errno)));
  }
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (elf == nullptr || elf_kind(elf.get()) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not an ELF file", path));
  }
  // libelf reads header tables lazily and tolerates a file cut short; a
  // truncated binary would only fail inside the guest, so check up front.
  if (absl::Status s = CheckHeaderTablesInFile(elf.get(), path); !s.ok()) {
    return s;
  }
  ElfInfo info;
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) {
    return ElfError(path, "cannot count program headers");
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf.get(), i, &phdr) == nullptr) {
      return ElfError(path, "cannot read a program header");
    }
    if (phdr.p_type != PT_INTERP) continue;
    size_t size = 0;
    char* raw = elf_rawfile(elf.get(), &size);
    if (raw == nullptr || phdr.p_offset >= size ||
        phdr.p_filesz > size - phdr.p_offset) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: PT_INTERP lies outside the file", path));
    }
    info.interpreter = std::string(raw + phdr.p_offset,
                                   strnlen(raw + phdr.p_offset, phdr.p_filesz));
  }
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC) {
      continue;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || shdr.sh_entsize == 0) continue;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
      if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH &&
          dyn.d_tag != DT_RUNPATH) {
        continue;
      }
      const char* str = elf_strptr(elf.get(), shdr.sh_link, dyn.d_un.d_val);
      if (str == nullptr) {
        return ElfError(path, "dynamic entry names a bad string");
      }
      if (dyn.d_tag == DT_NEEDED) {
        info.needed.emplace_back(str);
      } else {
        const std::string origin =
            std::filesystem::path(path).parent_path().string();
        for (absl::string_view dir : absl::StrSplit(str, ':')) {
          if (dir.empty()) continue;
          info.search_path.push_back(absl::StrReplaceAll(
              dir, {{"$ORIGIN", origin}, {"${ORIGIN}", origin}}));
        }
      }
    }
  }
  info.is_dynamic = !info.interpreter.empty() || !info.needed.empty();
  return info;
}

absl::StatusOr<std::vector<ElfDependency>> ResolveElfDependencies(
    const std::string& executable) {
  absl::StatusOr<ElfInfo> top = ReadElfInfo(executable);
  if (!top.ok()) return top.status();
  std::vector<ElfDependency> deps;
  std::set<std::string> seen_names;
  if (!top->interpreter.empty()) {
    if (!std::filesystem::exists(top->interpreter)) {
      return absl::NotFoundError(absl::StrFormat(
          "%s needs interpreter %s, which does not exist on this host",
          executable, top->interpreter));
    }
    deps.push_back({top->interpreter, true});
    seen_names.insert(
        std::filesystem::path(top->interpreter).filename().string());
  }
  struct Pending {
    std::string name;
    std::string wanted_by;
    std::vector<std::string> search_path;
  };
  std::deque<Pending> queue;
  for (const std::string& n : top->needed) {
    queue.push_back({n, executable, top->search_path});
  }
  while (!queue.empty()) {
    Pending p = std::move(queue.front());
    queue.pop_front();
    if (!seen_names.insert(p.name).second) continue;
    std::string found;
    if (p.name.find('/') != std::string::npos) {
      if (std::filesystem::exists(p.name)) found = p.name;
    } else {
      std::vector<std::string> dirs = p.search_path;
      dirs.insert(dirs.end(), std::begin(kSystemLibraryDirs),
                  std::end(kSystemLibraryDirs));
      for (const std::string& dir : dirs) {
        const std::string candidate = dir + "/" + p.name;
        if (std::filesystem::exists(candidate)) {
          found = candidate;
          break;
        }
      }
    }
    if (found.empty()) {
      return absl::NotFoundError(absl::StrFormat(
          "%s needs %s, which is not in its rpath or the system library "
          "directories",
          p.wanted_by, p.name));
    }
    absl::StatusOr<ElfInfo> lib = ReadElfInfo(found);
    if (!lib.ok()) return lib.status();
    deps.push_back({found, false});
    for (const std::string& n : lib->needed) {
      queue.push_back({n, found, lib->search_path});
    }
  }
  return deps;
}

}  // namespace ktvm::guest

#include "vmm/guest/cpio_writer.h"

#include <sys/stat.h>

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace ktvm::guest {
namespace {

void Pad4(std::string& s) {
  while (s.size() % 4 != 0) s.push_back('\0');
}

}  // namespace

absl::Status ValidateGuestPath(std::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrFormat("guest path \"%s\" is not absolute", path));
  }
  if (path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("guest path contains a NUL byte");
  }
  if (path == "/") return absl::OkStatus();
  const std::string_view rest = path.substr(1);
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(rest.data(), rest.size()), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "guest path \"%s\" has an empty, \".\" or \"..\" component", path));
    }
  }
  return absl::OkStatus();
}

bool CpioWriter::Contains(std::string_view path) const {
  return paths_.find(path) != paths_.end();
}

absl::Status CpioWriter::EnsureParents(std::string_view path) {
  size_t slash = path.find('/', 1);
  while (slash != std::string_view::npos) {
    std::string_view dir = path.substr(0, slash);
    if (!Contains(dir)) {
      absl::Status s = AddEntry(dir, S_IFDIR | 0755, "", 0, 0);
      if (!s.ok()) return s;
    }
    slash = path.find('/', slash + 1);
  }
  return absl::OkStatus();
}

absl::Status CpioWriter::AddEntry(std::string_view path, uint32_t mode,
                                  std::string_view data, uint32_t rdev_major,
                                  uint32_t rdev_minor) {
  if (absl::Status s = ValidateGuestPath(path); !s.ok()) return s;
  if (path == "/") return absl::OkStatus();  // the rootfs exists already
  if (Contains(path)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("initramfs already has an entry \"%s\"", path));
  }
  if (absl::Status s = EnsureParents(path); !s.ok()) return s;
  paths_.insert(std::string(path));
  AppendRecord(path.substr(1), mode, data, rdev_major, rdev_minor);
  return absl::OkStatus();
}

void CpioWriter::AppendRecord(std::string_view name, uint32_t mode,
                              std::string_view data, uint32_t rdev_major,
                              uint32_t rdev_minor) {
  const uint32_t nlink = (mode & S_IFMT) == S_IFDIR ? 2 : 1;
  // newc: magic then 13 fields of 8 hex digits: ino mode uid gid nlink mtime
  // filesize devmajor devminor rdevmajor rdevminor namesize check.
  out_ += absl::StrFormat(
      "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
      next_inode_++, mode, 0, 0, nlink, 0, data.size(), 0, 0, rdev_major,
      rdev_minor, name.size() + 1, 0);
  out_.append(name);
  out_.push_back('\0');
  Pad4(out_);
  out_.append(data);
  Pad4(out_);
}

absl::Status CpioWriter::AddDirectory(std::string_view path, uint32_t perm) {
  return AddEntry(path, S_IFDIR | (perm & 07777), "", 0, 0);
}

absl::Status CpioWriter::AddFile(std::string_view path,
                                 std::string_view contents, uint32_t perm) {
  if (contents.size() > 0xffffffffu) {
    return absl::InvalidArgumentError(
        absl::StrFormat("\"%s\" is %d bytes; cpio newc holds at most 4 GiB - 1",
                        path, contents.size()));
  }
  return AddEntry(path, S_IFREG | (perm & 07777), contents, 0, 0);
}

absl::Status CpioWriter::AddSymlink(std::string_view path,
                                    std::string_view target) {
  if (target.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("symlink \"%s\" has an empty target", path));
  }
  return AddEntry(path, S_IFLNK | 0777, target, 0, 0);
}

absl::Status CpioWriter::AddCharDevice(std::string_view path, uint32_t major,
                                       uint32_t minor, uint32_t perm) {
  return AddEntry(path, S_IFCHR | (perm & 07777), "", major, minor);
}

std::string CpioWriter::Finish() {
  AppendRecord("TRAILER!!!", 0, "", 0, 0);
  std::string result = std::move(out_);
  out_.clear();
  paths_.clear();
  next_inode_ = 1;
  return result;
}

}  // namespace ktvm::guest

#include "vmm/guest/initramfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/guest/compression.h"
#include "vmm/guest/control_format.h"
#include "vmm/guest/cpio_writer.h"
#include "vmm/guest/elf_dependencies.h"

namespace ktvm::guest {
namespace {

absl::StatusOr<std::string> ReadHostFile(const std::string& path,
                                         std::string_view role) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrFormat(
        "%s \"%s\" does not exist or is not a regular file", role, path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    // The user named a file ktvm may not read (mode, ACL): their input to
    // fix, like a missing file.
    const int err = errno;
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" cannot be read: %s", role, path,
                        err != 0 ? std::strerror(err) : "open failed"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::DataLossError(
        absl::StrFormat("reading %s \"%s\" failed", role, path));
  }
  return buf.str();
}

uint32_t HostPermissions(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0644;
  return st.st_mode & 07777;
}

absl::Status AddHostFile(CpioWriter& cpio, const std::string& host,
                         std::string_view guest, std::string_view role,
                         uint32_t perm) {
  absl::StatusOr<std::string> contents = ReadHostFile(host, role);
  if (!contents.ok()) return contents.status();
  return cpio.AddFile(guest, *contents, perm);
}

std::string ResolveBusybox(const InitramfsSpec& spec) {
  if (!spec.include_busybox) return "";
  if (!spec.busybox_path.empty()) return spec.busybox_path;
  std::error_code ec;
  if (std::filesystem::exists(std::string(kDefaultBusyboxPath), ec)) {
    return std::string(kDefaultBusyboxPath);
  }
  return "";
}

}  // namespace

absl::StatusOr<IncludeFile> ParseIncludePair(std::string_view pair) {
  const size_t colon = pair.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      colon + 1 == pair.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--include \"%s\" is not of the form host_path:/guest/path", pair));
  }
  IncludeFile inc{std::string(pair.substr(0, colon)),
                  std::string(pair.substr(colon + 1))};
  if (absl::Status s = ValidateGuestPath(inc.guest_path); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--include \"%s\": %s", pair, s.message()));
  }
  if (inc.guest_path == "/") {
    return absl::InvalidArgumentError(
        absl::StrFormat("--include \"%s\": guest path is the root", pair));
  }
  return inc;
}

std::string RenderInitConfig(const InitramfsSpec& spec) {
  std::string config = "# ktvm init configuration (see vmm/guest/README.md)\n";
  if (!spec.scheduler_path.empty()) {
    absl::StrAppend(&config, "scheduler=", std::string(kGuestSchedulerPath),
                    "\n");
    for (const std::string& arg : spec.scheduler_args) {
      absl::StrAppend(&config, "arg=", EncodeControlValue(arg), "\n");
    }
  }
  if (!spec.run_command.empty()) {
    absl::StrAppend(&config, "run=", EncodeControlValue(spec.run_command),
                    "\n");
  }
  absl::StrAppend(&config,
                  "enable_timeout_ms=", spec.scheduler_enable_timeout_ms, "\n",
                  "workload_timeout_ms=", spec.workload_timeout_ms, "\n");
  return config;
}

absl::StatusOr<std::string> BuildInitramfs(const InitramfsSpec& spec) {
  if (spec.init_path.empty()) {
    return absl::InvalidArgumentError("initramfs needs an init binary");
  }
  CpioWriter cpio;
  for (const char* dir : {"/dev", "/proc", "/sys", "/tmp", "/run", "/bin",
                          "/sbin", "/etc", "/ktvm", "/root"}) {
    if (absl::Status s = cpio.AddDirectory(dir); !s.ok()) return s;
  }
  // The kernel opens /dev/console for the init before devtmpfs exists, and
  // the init reports "init-started" on COM2 before mounting anything.
  for (const auto& [path, major, minor] :
       {std::tuple<const char*, int, int>{"/dev/console", 5, 1},
        {"/dev/null", 1, 3},
        {"/dev/ttyS0", 4, 64},
        {"/dev/ttyS1", 4, 65}}) {
    if (absl::Status s = cpio.AddCharDevice(path, major, minor, 0620);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddHostFile(cpio, spec.init_path, "/init", "init", 0755);
      !s.ok()) {
    return s;
  }
  // The kernel would only fail to exec it ("No working init found"), after
  // the whole boot; and the initramfs carries no libraries for the init.
  absl::StatusOr<ElfInfo> init = ReadElfInfo(spec.init_path);
  if (!init.ok()) {
    return absl::Status(init.status().code(),
                        absl::StrCat("init ", init.status().message()));
  }
  if (init->is_dynamic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "init \"%s\" is dynamically linked; the guest init must be static "
        "(//vmm/guest:init)",
        spec.init_path));
  }
  if (!spec.scheduler_path.empty()) {
    if (absl::Status s = AddHostFile(cpio, spec.scheduler_path,
                                     kGuestSchedulerPath, "scheduler", 0755);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::vector<ElfDependency>> deps =
        ResolveElfDependencies(spec.scheduler_path);
    if (!deps.ok()) return deps.status();
    for (const ElfDependency& dep : *deps) {
      // Two names may resolve to one file (e.g. the interpreter also
      // listed as NEEDED): keep the first.
      if (cpio.Contains(dep.path)) continue;
      if (absl::Status s =
              AddHostFile(cpio, dep.path, dep.path, "shared library", 0755);
          !s.ok()) {
        return s;
      }
    }
  }
  const std::string busybox = ResolveBusybox(spec);
  if (!busybox.empty()) {
    absl::StatusOr<ElfInfo> info = ReadElfInfo(busybox);
    if (!info.ok()) return info.status();
    if (info->is_dynamic) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "busybox \"%s\" is dynamically linked; install busybox-static",
          busybox));
    }
    if (absl::Status s =
            AddHostFile(cpio, busybox, "/bin/busybox", "busybox", 0755);
        !s.ok()) {
      return s;
    }
    // The init installs every applet link at boot; /bin/sh must exist
    // before that for --run.
    if (absl::Status s = cpio.AddSymlink("/bin/sh", "busybox"); !s.ok()) {
      return s;
    }
  }
  for (const IncludeFile& inc : spec.includes) {
    if (absl::Status s = ValidateGuestPath(inc.guest_path); !s.ok()) return s;
    // Overwriting the init, its config or another include would break the
    // guest silently; the user picks another path.
    if (cpio.Contains(inc.guest_path) || inc.guest_path == kGuestConfigPath) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--include %s:%s: %s is already in the initramfs (ktvm's own file "
          "or an earlier --include); choose another guest path",
          inc.host_path, inc.guest_path, inc.guest_path));
    }
    if (absl::Status s =
            AddHostFile(cpio, inc.host_path, inc.guest_path, "--include file",
                        HostPermissions(inc.host_path));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          cpio.AddFile(kGuestConfigPath, RenderInitConfig(spec), 0644);
      !s.ok()) {
    return s;
  }
  std::string archive = cpio.Finish();
  switch (spec.compression) {
    case InitramfsCompression::kNone:
      return archive;
    case InitramfsCompression::kGzip:
      return CompressGzip(archive);
    case InitramfsCompression::kZstd:
      return CompressZstd(archive);
  }
  return absl::InvalidArgumentError("unknown initramfs compression");
}

absl::Status WriteInitramfs(const InitramfsSpec& spec,
                            const std::string& path) {
  absl::StatusOr<std::string> image = BuildInitramfs(spec);
  if (!image.ok()) return image.status();
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("cannot create %s: %s", tmp, std::strerror(errno)));
  }
  size_t done = 0;
  while (done < image->size()) {
    const ssize_t n = write(fd, image->data() + done, image->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::DataLossError(
          absl::StrFormat("writing %s failed: %s", tmp, std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::DataLossError(
        absl::StrFormat("finishing %s failed: %s", path, std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace ktvm::guest

// VmlinuxBtfFromBzImage: bzImage -> (cache by SHA-256) -> BTF.
#include <bpf/btf.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "btf/btf_source.h"
#include "btf/mapped_file.h"

namespace ktvm::btf {
namespace {

absl::StatusOr<std::string> Sha256Hex(absl::Span<const uint8_t> data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) !=
      1) {
    return absl::InternalError("SHA-256 failed");
  }
  std::string hex;
  for (unsigned int i = 0; i < len; ++i)
    absl::StrAppendFormat(&hex, "%02x", md[i]);
  return hex;
}

// mkdir -p; errors are reported by the later write.
void MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      mkdir(dir.substr(0, i).c_str(), 0755);
    }
  }
}

// Temp file + rename, so readers never see a half-written cache entry.
absl::Status WriteAtomically(const std::string& path,
                             absl::Span<const uint8_t> data) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrFormat("cannot create %s: %s", tmp, std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      const int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrFormat("writing %s: %s", tmp, std::strerror(e)));
    }
    done += n;
  }
  fchmod(fd, 0644);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrFormat("renaming %s to %s: %s", tmp, path, std::strerror(e)));
  }
  return absl::OkStatus();
}

// Hashing 14 MB costs more than parsing the cached BTF, so the hash of a
// file is remembered under its identity (device, inode, size, mtime in ns),
// like ccache's direct mode. A file rewritten in place keeps neither the
// same mtime nor (usually) the same inode, so it is hashed again.
std::string StatKeyPath(const std::string& dir, const struct stat& st) {
  return absl::StrFormat("%s/id-%x-%x-%x-%x.%09x.sha256", dir, st.st_dev,
                         st.st_ino, st.st_size, st.st_mtim.tv_sec,
                         st.st_mtim.tv_nsec);
}

std::string ReadSmallFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, n) : "";
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string ResolveCacheDir(const BzImageBtfOptions& opts) {
  if (!opts.cache_dir.empty()) return opts.cache_dir;
  if (const char* d = std::getenv("KTVM_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) {
    return std::string(d) + "/ktvm";
  }
  if (const char* d = std::getenv("HOME"); d && *d) {
    return std::string(d) + "/.cache/ktvm";
  }
  return "/tmp/ktvm-cache";
}

absl::StatusOr<VmlinuxBtf> VmlinuxBtfFromBzImage(
    const std::string& bzimage_path, const BzImageBtfOptions& opts) {
  VmlinuxBtf out;
  std::string dir, stat_key;
  if (opts.use_cache) {
    dir = ResolveCacheDir(opts) + "/btf";
    struct stat st;
    if (stat(bzimage_path.c_str(), &st) == 0) {
      stat_key = StatKeyPath(dir, st);
      const std::string sha = ReadSmallFile(stat_key);
      if (IsHex64(sha)) {
        const std::string cache_path = dir + "/vmlinux-" + sha + ".btf";
        absl::StatusOr<MappedFile> cached = MappedFile::Open(cache_path);
        if (cached.ok()) {
          absl::StatusOr<BtfPtr> btf = BtfFromRawBytes(cached->bytes());
          if (btf.ok()) {
            out.btf = std::move(*btf);
            out.bzimage_sha256 = sha;
            out.from_cache = true;
            out.cache_path = cache_path;
            return out;
          }
        }
      }
    }
  }
  absl::StatusOr<MappedFile> file = MappedFile::Open(bzimage_path);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::string> sha = Sha256Hex(file->bytes());
  if (!sha.ok()) return sha.status();
  out.bzimage_sha256 = *sha;

  std::string cache_path;
  if (opts.use_cache) {
    cache_path = dir + "/vmlinux-" + out.bzimage_sha256 + ".btf";
    MakeDirs(dir);
    absl::StatusOr<MappedFile> cached = MappedFile::Open(cache_path);
    if (cached.ok()) {
      absl::StatusOr<BtfPtr> btf = BtfFromRawBytes(cached->bytes());
      // A corrupt entry is rebuilt below rather than trusted.
      if (btf.ok()) {
        if (!stat_key.empty()) {
          (void)WriteAtomically(
              stat_key,
              absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sha->data()),
                                  sha->size()));
        }
        out.btf = std::move(*btf);
        out.from_cache = true;
        out.cache_path = cache_path;
        return out;
      }
    }
  }

  absl::StatusOr<std::vector<uint8_t>> raw =
      ExtractBtfFromBzImage(file->bytes());
  if (!raw.ok()) {
    return absl::Status(
        raw.status().code(),
        absl::StrFormat("%s: %s", bzimage_path, raw.status().message()));
  }
  absl::StatusOr<BtfPtr> btf = BtfFromRawBytes(*raw);
  if (!btf.ok()) {
    return absl::Status(btf.status().code(),
                        absl::StrFormat("%s: .BTF of the payload: %s",
                                        bzimage_path, btf.status().message()));
  }
  out.btf = std::move(*btf);
  if (opts.use_cache && WriteAtomically(cache_path, *raw).ok()) {
    out.cache_path = cache_path;
    if (!stat_key.empty()) {
      (void)WriteAtomically(
          stat_key,
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sha->data()),
                              sha->size()));
    }
  }
  return out;
}

}  // namespace ktvm::btf

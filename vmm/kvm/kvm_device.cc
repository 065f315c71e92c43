#include "vmm/kvm/kvm_device.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "vmm/kvm/kvm_abi.h"

namespace ktvm::vmm {
namespace {

struct RequiredCapability {
  int id;
  const char* name;
};

// Everything the boot path relies on; see the KVM API document.
constexpr RequiredCapability kRequiredCapabilities[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    // The vCPU kick used by freeze-and-dump depends on it.
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

}  // namespace

absl::StatusOr<KvmDevice> KvmDevice::Open(const std::string& path) {
  const int raw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (raw < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      return absl::UnavailableError(absl::StrFormat(
          "cannot open %s: %s (no KVM on this host; use --accel=tcg)", path,
          std::strerror(err)));
    }
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "cannot open %s: %s (add the user to the kvm group or run as root)",
          path, std::strerror(err)));
    }
    return absl::UnavailableError(
        absl::StrFormat("cannot open %s: %s", path, std::strerror(err)));
  }
  KvmDevice device(UniqueFd(raw), path);
  const int version = ::ioctl(raw, KVM_GET_API_VERSION, 0);
  if (version < 0) {
    // Any other device or file (/dev/null) refuses KVM's ioctls.
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not a KVM device (KVM_GET_API_VERSION: %s)",
                        path, std::strerror(errno)));
  }
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s reports KVM API version %d, ktvm needs %d", path,
                        version, KVM_API_VERSION));
  }
  if (absl::Status s = device.CheckRequiredCapabilities(); !s.ok()) return s;
  device.max_vcpus_ = device.CheckExtension(KVM_CAP_MAX_VCPUS);
  if (device.max_vcpus_ <= 0) {
    device.max_vcpus_ = device.CheckExtension(KVM_CAP_NR_VCPUS);
  }
  if (device.max_vcpus_ <= 0) device.max_vcpus_ = 1;
  const int mmap_size = ::ioctl(raw, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "KVM_GET_VCPU_MMAP_SIZE on %s failed: %s", path, std::strerror(errno)));
  }
  device.vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
  return device;
}

int KvmDevice::CheckExtension(int capability) const {
  const int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  return r < 0 ? 0 : r;
}

absl::Status KvmDevice::CheckRequiredCapabilities() const {
  std::vector<std::string> missing;
  for (const RequiredCapability& cap : kRequiredCapabilities) {
    if (CheckExtension(cap.id) <= 0) missing.push_back(cap.name);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrFormat("%s lacks required KVM capabilities: %s", path_,
                      absl::StrJoin(missing, ", ")));
}

bool KvmDevice::IsPvmHost() {
  struct stat st;
  return ::stat("/sys/module/kvm_pvm", &st) == 0;
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> KvmDevice::GetSupportedCpuid()
    const {
  // The kernel reports E2BIG until the buffer is large enough.
  for (uint32_t nent = 128; nent <= 4096; nent *= 2) {
    std::vector<uint8_t> buffer(kvm_abi::kEntriesOffset +
                                nent * sizeof(kvm_cpuid_entry2));
    const kvm_abi::ListHeader header{nent, 0};
    std::memcpy(buffer.data(), &header, sizeof(header));
    if (::ioctl(fd_.get(), kvm_abi::kGetSupportedCpuid, buffer.data()) == 0) {
      kvm_abi::ListHeader filled;
      std::memcpy(&filled, buffer.data(), sizeof(filled));
      std::vector<kvm_cpuid_entry2> out(std::min(filled.count, nent));
      std::memcpy(out.data(), buffer.data() + kvm_abi::kEntriesOffset,
                  out.size() * sizeof(kvm_cpuid_entry2));
      return out;
    }
    if (errno != E2BIG) {
      return absl::InternalError(absl::StrFormat(
          "KVM_GET_SUPPORTED_CPUID failed: %s", std::strerror(errno)));
    }
  }
  return absl::InternalError("KVM_GET_SUPPORTED_CPUID: more than 4096 leaves");
}

}  // namespace ktvm::vmm

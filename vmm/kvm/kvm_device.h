// /dev/kvm: the API version and the capabilities ktvm needs, checked up front
// so a missing feature is reported by name before any VM exists.
#ifndef KTVM_VMM_KVM_KVM_DEVICE_H_
#define KTVM_VMM_KVM_KVM_DEVICE_H_

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmm/kvm/unique_fd.h"

namespace ktvm::vmm {

inline constexpr char kDefaultKvmDevicePath[] = "/dev/kvm";

class KvmDevice {
 public:
  // Opens `path`. Errors: Unavailable when the node is missing,
  // PermissionDenied without access, FailedPrecondition when the API version
  // or a required capability is missing (the message names every one).
  static absl::StatusOr<KvmDevice> Open(const std::string& path);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // KVM_CHECK_EXTENSION; 0 when absent.
  int CheckExtension(int capability) const;
  // Largest vCPU count a VM may have (KVM_CAP_MAX_VCPUS, else NR_VCPUS).
  int max_vcpus() const { return max_vcpus_; }
  // Size of each vCPU's kvm_run mapping.
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // True when the kvm_pvm module serves /dev/kvm: a non-PVM guest then runs
  // only through KVM's instruction emulator.
  static bool IsPvmHost();

  // KVM_GET_SUPPORTED_CPUID: the host's CPUID as KVM can expose it.
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> GetSupportedCpuid() const;

 private:
  KvmDevice(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(path) {}
  absl::Status CheckRequiredCapabilities() const;

  UniqueFd fd_;
  std::string path_;
  int max_vcpus_ = 0;
  size_t vcpu_mmap_size_ = 0;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_KVM_DEVICE_H_

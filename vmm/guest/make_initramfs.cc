// Command-line front end to BuildInitramfs, for tests and manual runs:
//   make_initramfs --init=init --scheduler=sched --sched_args="a b"
//       --run="echo hi" --include=host:/guest --out=initramfs.img
// (one command line, wrapped here).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "vmm/guest/initramfs.h"

ABSL_FLAG(std::string, init, "", "static ktvm init binary (required)");
ABSL_FLAG(std::string, scheduler, "", "scheduler binary to start");
ABSL_FLAG(std::string, sched_args, "",
          "scheduler arguments, separated by spaces");
ABSL_FLAG(std::string, run, "", "workload command run with /bin/sh -c");
ABSL_FLAG(std::vector<std::string>, include, {},
          "comma-separated host:/guest pairs to add");
ABSL_FLAG(int, enable_timeout_ms, 20000,
          "how long the init waits for sched_ext to report enabled");
ABSL_FLAG(int, workload_timeout_ms, 0, "guest-side workload timeout, 0: none");
ABSL_FLAG(std::string, compression, "zstd", "zstd, gzip or none");
ABSL_FLAG(std::string, out, "", "output file (required)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ktvm::guest::InitramfsSpec spec;
  spec.init_path = absl::GetFlag(FLAGS_init);
  spec.scheduler_path = absl::GetFlag(FLAGS_scheduler);
  for (absl::string_view arg : absl::StrSplit(absl::GetFlag(FLAGS_sched_args),
                                              ' ', absl::SkipEmpty())) {
    spec.scheduler_args.emplace_back(arg);
  }
  spec.run_command = absl::GetFlag(FLAGS_run);
  for (const std::string& pair : absl::GetFlag(FLAGS_include)) {
    auto inc = ktvm::guest::ParseIncludePair(pair);
    if (!inc.ok()) {
      std::fprintf(stderr, "%s\n", inc.status().ToString().c_str());
      return 2;
    }
    spec.includes.push_back(*inc);
  }
  spec.scheduler_enable_timeout_ms = absl::GetFlag(FLAGS_enable_timeout_ms);
  spec.workload_timeout_ms = absl::GetFlag(FLAGS_workload_timeout_ms);
  const std::string compression = absl::GetFlag(FLAGS_compression);
  if (compression == "zstd") {
    spec.compression = ktvm::guest::InitramfsCompression::kZstd;
  } else if (compression == "gzip") {
    spec.compression = ktvm::guest::InitramfsCompression::kGzip;
  } else if (compression == "none") {
    spec.compression = ktvm::guest::InitramfsCompression::kNone;
  } else {
    std::fprintf(stderr, "--compression=%s: want zstd, gzip or none\n",
                 compression.c_str());
    return 2;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty() || spec.init_path.empty()) {
    std::fprintf(stderr, "--init and --out are required\n");
    return 2;
  }
  if (absl::Status s = ktvm::guest::WriteInitramfs(spec, out); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

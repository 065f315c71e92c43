"""ktvm_fuzz_target: one LLVMFuzzerTestOneInput, two ways to run it.

- `<name>_regression` (cc_test, part of `bazel test //...`, built with the
  normal toolchain): replays every corpus file, then a fixed-seed stream of
  mutated and random inputs through the same entry point. A crash, abort or
  sanitizer report (under --config=asan/ubsan) fails it.
- `<name>` (cc_binary, tagged manual): the libFuzzer binary, built with
  `--config=fuzz` (clang, -fsanitize=fuzzer,address,undefined). Run all of
  them with tools/fuzz/run_fuzzers.sh.
"""

def ktvm_fuzz_target(name, srcs, deps = [], corpus = [], regression_iterations = 20000, **kwargs):
    native.cc_library(
        name = name + "_entry",
        srcs = srcs,
        deps = deps,
        alwayslink = 1,
        testonly = 1,
        visibility = ["//visibility:private"],
    )
    native.cc_test(
        name = name + "_regression",
        deps = [
            ":" + name + "_entry",
            "//tools/fuzz:regression_driver",
        ],
        data = corpus,
        args = ["--iterations=%d" % regression_iterations] + ["$(locations %s)" % c for c in corpus],
        # medium: sanitizer builds on a loaded 2-core machine run 5-20x slower.
        size = "medium",
        **kwargs
    )
    native.cc_binary(
        name = name,
        deps = [":" + name + "_entry"],
        data = corpus,
        linkopts = ["-fsanitize=fuzzer"],
        testonly = 1,
        tags = ["manual", "ktvm_fuzz"],
    )

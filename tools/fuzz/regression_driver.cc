// Runs a libFuzzer entry point without libFuzzer: every corpus file first,
// then a deterministic stream of inputs derived from the corpus (bit flips,
// overwritten bytes, truncation, growth, splices) and plain random bytes.
// This keeps each fuzz target's invariants (no crash, no hang, no sanitizer
// report) checked on every `bazel test //...`, where clang's libFuzzer
// runtime is not in the toolchain.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv)
    __attribute__((weak));

namespace {

using Input = std::vector<uint8_t>;

void CollectFiles(const std::string& path, std::vector<std::string>& out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "regression_driver: cannot stat %s\n", path.c_str());
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    out.push_back(path);
    return;
  }
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    CollectFiles(path + "/" + name, out);
  }
  closedir(dir);
}

Input ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Input(std::istreambuf_iterator<char>(in), {});
}

// One mutation of the kinds libFuzzer's default mutators also apply, so a
// corpus of real data turns into near-valid inputs that reach deep code.
Input Mutate(const Input& base, const Input& other, std::mt19937_64& rng) {
  Input in = base;
  const int rounds = 1 + static_cast<int>(rng() % 8);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!in.empty()) in[rng() % in.size()] ^= uint8_t{1} << (rng() % 8);
        break;
      case 1:  // interesting byte values
        if (!in.empty()) {
          static constexpr uint8_t kValues[] = {0, 1, 0x7f, 0x80, 0xff};
          in[rng() % in.size()] = kValues[rng() % std::size(kValues)];
        }
        break;
      case 2:  // overwrite a u64 with an extreme value
        if (in.size() >= 8) {
          static constexpr uint64_t kWords[] = {0, ~0ULL, 1ULL << 63,
                                                0xffffffff, 0x1000};
          const uint64_t w = kWords[rng() % std::size(kWords)];
          const size_t at = rng() % (in.size() - 7);
          for (int i = 0; i < 8; ++i) in[at + i] = uint8_t(w >> (8 * i));
        }
        break;
      case 3:  // truncate
        if (!in.empty()) in.resize(rng() % in.size());
        break;
      case 4:  // grow with random bytes
        for (size_t n = rng() % 64; n > 0; --n) in.push_back(uint8_t(rng()));
        break;
      case 5:  // splice in a piece of another input
        if (!other.empty() && !in.empty()) {
          const size_t from = rng() % other.size();
          const size_t len = std::min<size_t>(rng() % 256, other.size() - from);
          const size_t to = rng() % in.size();
          for (size_t i = 0; i < len && to + i < in.size(); ++i) {
            in[to + i] = other[from + i];
          }
        }
        break;
    }
  }
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  long iterations = 20000;
  uint64_t seed = 0x6b74766d;  // "ktvm": the same stream on every run
  if (const char* s = std::getenv("KTVM_FUZZ_SEED")) {
    if (!absl::SimpleAtoi(s, &seed)) {
      std::fprintf(stderr, "regression_driver: bad KTVM_FUZZ_SEED\n");
      return 2;
    }
  }
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--iterations=")) {
      if (!absl::SimpleAtoi(arg.substr(13), &iterations) || iterations < 0) {
        std::fprintf(stderr, "regression_driver: bad %s\n", arg.c_str());
        return 2;
      }
      continue;
    }
    CollectFiles(arg, files);
  }

  std::vector<Input> corpus;
  for (const std::string& f : files) {
    corpus.push_back(ReadFile(f));
    LLVMFuzzerTestOneInput(corpus.back().data(), corpus.back().size());
  }
  std::mt19937_64 rng(seed);
  size_t max_len = 4096;
  for (const Input& c : corpus) max_len = std::max(max_len, c.size());
  for (long i = 0; i < iterations; ++i) {
    Input in;
    if (!corpus.empty() && rng() % 4 != 0) {
      in = Mutate(corpus[rng() % corpus.size()], corpus[rng() % corpus.size()],
                  rng);
    } else {
      in.resize(rng() % (max_len + 1));
      for (uint8_t& b : in) b = uint8_t(rng());
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf(
      "regression_driver: %zu corpus files and %ld generated inputs (seed "
      "%llu) ran without a crash\n",
      corpus.size(), iterations, static_cast<unsigned long long>(seed));
  return 0;
}

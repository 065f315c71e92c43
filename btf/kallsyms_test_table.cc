#include "btf/kallsyms_test_table.h"

#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::btf::testing {
namespace {

void Put32(std::vector<uint8_t>* v, size_t at, uint32_t x) {
  std::memcpy(v->data() + at, &x, 4);
}

void Align(std::vector<uint8_t>* v, size_t a) {
  while (v->size() % a) v->push_back(0);
}

}  // namespace

ReadVirtualFn BuiltKallsyms::reader() const {
  return [this](uint64_t va, absl::Span<uint8_t> out) -> absl::Status {
    if (va < base_va || va - base_va > image.size() ||
        out.size() > image.size() - (va - base_va)) {
      return absl::OutOfRangeError(
          absl::StrFormat("0x%x+%u is outside the test image", va, out.size()));
    }
    std::memcpy(out.data(), image.data() + (va - base_va), out.size());
    return absl::OkStatus();
  };
}

BuiltKallsyms EncodeKallsyms(const std::vector<KernelSymbol>& symbols,
                             uint64_t base_va) {
  // Token table: tokens 0..127 are single characters; 128..255 are the most
  // common two-character pairs, like the kernel's greedy compressor (a
  // simpler choice of tokens; the decoding is the same).
  std::vector<std::string> tokens(256);
  for (int i = 0; i < 128; ++i)
    tokens[i] = std::string(1, static_cast<char>(i));
  std::map<std::string, int> pairs;
  for (const KernelSymbol& s : symbols) {
    const std::string full = std::string(1, s.type) + s.name;
    for (size_t i = 0; i + 1 < full.size(); ++i) pairs[full.substr(i, 2)]++;
  }
  std::vector<std::pair<int, std::string>> ranked;
  for (auto& [p, c] : pairs) ranked.emplace_back(-c, p);
  std::sort(ranked.begin(), ranked.end());
  std::map<std::string, int> pair_token;
  for (int i = 128; i < 256; ++i) {
    const size_t r = i - 128;
    tokens[i] = r < ranked.size() ? ranked[r].second : std::string("~~");
    if (r < ranked.size()) pair_token[tokens[i]] = i;
  }

  BuiltKallsyms b;
  b.base_va = base_va;
  b.symbols = symbols;
  std::vector<uint8_t>& img = b.image;
  img.resize(64, 0xcc);  // something before the tables
  b.tables.num_syms = base_va + img.size();
  img.resize(img.size() + 8, 0);
  Put32(&img, b.tables.num_syms - base_va, symbols.size());
  b.tables.names = base_va + img.size();
  for (const KernelSymbol& s : symbols) {
    const std::string full = std::string(1, s.type) + s.name;
    std::vector<uint8_t> enc;
    for (size_t i = 0; i < full.size();) {
      auto it = i + 1 < full.size() ? pair_token.find(full.substr(i, 2))
                                    : pair_token.end();
      if (it != pair_token.end()) {
        enc.push_back(it->second);
        i += 2;
      } else {
        enc.push_back(static_cast<uint8_t>(full[i]));
        ++i;
      }
    }
    if (enc.size() <= 0x7f) {
      img.push_back(enc.size());
    } else {
      img.push_back((enc.size() & 0x7f) | 0x80);
      img.push_back(enc.size() >> 7);
    }
    img.insert(img.end(), enc.begin(), enc.end());
  }
  Align(&img, 4);
  img.resize(img.size() + 4 * ((symbols.size() + 255) / 256), 0);  // markers
  b.tables.token_table = base_va + img.size();
  std::vector<uint16_t> index(256);
  for (int i = 0; i < 256; ++i) {
    index[i] = img.size() - (b.tables.token_table - base_va);
    img.insert(img.end(), tokens[i].begin(), tokens[i].end());
    img.push_back(0);
  }
  Align(&img, 2);
  b.tables.token_index = base_va + img.size();
  for (uint16_t x : index) {
    img.push_back(x & 0xff);
    img.push_back(x >> 8);
  }
  Align(&img, 4);
  b.tables.offsets = base_va + img.size();
  img.resize(img.size() + 4 * symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    const uint64_t entry_va = b.tables.offsets + 4 * i;
    Put32(&img, entry_va - base_va,
          static_cast<uint32_t>(
              static_cast<int32_t>(symbols[i].address - entry_va)));
  }
  return b;
}

BuiltKallsyms BuildKallsyms(uint32_t count, uint64_t text_va) {
  static const char* kPrefixes[] = {"__x64_sys_", "scx_", "bpf_",  "do_",
                                    "native_",    "tcp_", "ext4_", "sched_"};
  static const char* kWords[] = {"read",     "write",  "enqueue",
                                 "dispatch", "alloc",  "free",
                                 "lookup",   "update", "init"};
  std::vector<KernelSymbol> syms;
  syms.reserve(count);
  uint64_t addr = text_va;
  for (uint32_t i = 0; i < count; ++i) {
    KernelSymbol s;
    s.name =
        absl::StrFormat("%s%s_%u", kPrefixes[i % 8], kWords[(i / 8) % 9], i);
    s.type = "TtDdBbRr"[i % 8];
    s.address = addr;
    addr += 16 + (i * 7) % 400;
    syms.push_back(std::move(s));
  }
  // One very long name to exercise the two-byte length.
  syms.back().name = std::string(300, 'z');
  // Tables live after the symbols they describe, as .rodata follows .text.
  return EncodeKallsyms(syms, addr + 4096);
}

}  // namespace ktvm::btf::testing

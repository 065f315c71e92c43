#include "sdt/payload_type.h"

#include <bpf/btf.h>

#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ktvm::sdt {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

// The allocator's own structs are never its payload (sdt_data is 8 bytes,
// exactly the payload size of a 16-byte slot).
bool IsAllocatorStruct(std::string_view name) {
  for (std::string_view own :
       {"sdt_data", "sdt_desc", "sdt_chunk", "sdt_pool", "scx_allocator"}) {
    if (name == own) return true;
  }
  return false;
}

struct Candidate {
  uint32_t id;
  std::string_view name;
};

}  // namespace

std::string AllocatorStem(std::string_view name) {
  std::string_view stem = name;
  bool stripped = false;
  for (std::string_view suffix : {"_allocator", "_alloc"}) {
    if (EndsWith(stem, suffix)) {
      stem.remove_suffix(suffix.size());
      stripped = true;
      break;
    }
  }
  if (!stripped) return "";
  if (StartsWith(stem, "scx_")) stem.remove_prefix(4);
  return std::string(stem);
}

PayloadTypeChoice DiscoverPayloadBtfId(const struct ::btf* btf,
                                       uint64_t payload_size,
                                       std::string_view allocator_name) {
  PayloadTypeChoice choice;
  if (payload_size == 0) {
    choice.reason = "payload_size == 0";
    return choice;
  }
  if (btf == nullptr) {
    choice.reason = "no BTF";
    return choice;
  }

  // In split BTF every id at or above the base's count is the program's.
  const struct ::btf* base = btf__base_btf(btf);
  const uint32_t first_program_id = base ? btf__type_cnt(base) : 1;
  std::vector<Candidate> program;
  std::vector<Candidate> other;
  const uint32_t count = btf__type_cnt(btf);
  for (uint32_t id = 1; id < count; ++id) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (t == nullptr || !btf_is_struct(t) || t->size != payload_size) {
      continue;
    }
    const char* name = btf__name_by_offset(btf, t->name_off);
    if (name == nullptr || name[0] == '\0' || IsAllocatorStruct(name)) {
      continue;
    }
    (id >= first_program_id ? program : other).push_back({id, name});
  }
  const std::vector<Candidate>& candidates = program.empty() ? other : program;

  auto choose = [&](const Candidate& c) {
    choice.btf_type_id = c.id;
    choice.type_name = "struct " + std::string(c.name);
    choice.reason.clear();
    return choice;
  };
  if (candidates.empty()) {
    choice.reason = absl::StrFormat("no candidate of size %u", payload_size);
    return choice;
  }
  if (candidates.size() == 1) return choose(candidates[0]);

  using Rule = std::function<bool(std::string_view)>;
  std::vector<Rule> rules;
  const std::string stem = AllocatorStem(allocator_name);
  if (!stem.empty()) {
    const std::string own_ctx = stem + "_ctx";
    const std::string any_own_ctx = "_" + stem + "_ctx";
    rules.push_back([stem, own_ctx](std::string_view n) {
      return n == stem || n == own_ctx;
    });
    rules.push_back(
        [any_own_ctx](std::string_view n) { return EndsWith(n, any_own_ctx); });
  }
  rules.push_back([](std::string_view n) { return n == "task_ctx"; });
  rules.push_back([](std::string_view n) { return EndsWith(n, "_arena_ctx"); });
  rules.push_back([](std::string_view n) { return EndsWith(n, "_task_ctx"); });
  rules.push_back([](std::string_view n) { return EndsWith(n, "_ctx"); });

  for (const Rule& rule : rules) {
    const Candidate* hit = nullptr;
    int hits = 0;
    for (const Candidate& c : candidates) {
      if (rule(c.name)) {
        hit = &c;
        ++hits;
      }
    }
    if (hits == 1) return choose(*hit);
  }
  choice.reason =
      absl::StrFormat("ambiguous: %u candidates", candidates.size());
  return choice;
}

}  // namespace ktvm::sdt

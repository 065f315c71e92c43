// Kernel symbols: decoded from the kernel's in-memory kallsyms tables
// (located through VMCOREINFO), or parsed from a System.map or an ELF
// .symtab when a distribution ships one. One sorted table serves
// name -> address and address -> symbol+offset.
#ifndef KTVM_BTF_KALLSYMS_H_
#define KTVM_BTF_KALLSYMS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "btf/read_virtual.h"
#include "btf/vmcoreinfo.h"

namespace ktvm::btf {

struct KernelSymbol {
  std::string name;
  uint64_t address = 0;
  // nm-style type letter ('T', 't', 'D', ...), '?' when unknown.
  char type = '?';
};

struct SymbolizedAddress {
  std::string_view name;
  uint64_t symbol_address = 0;
  uint64_t offset = 0;
  // Distance to the next symbol (0 for the last one).
  uint64_t size = 0;
};

struct SymbolView {
  std::string_view name;
  uint64_t address = 0;
  char type = '?';
};

class SymbolTable {
 public:
  SymbolTable() = default;
  explicit SymbolTable(std::vector<KernelSymbol> symbols);

  size_t size() const { return entries_.size(); }
  // i-th symbol in address order.
  SymbolView at(size_t i) const;

  // First symbol with this name (kernels have a few duplicate static names).
  std::optional<uint64_t> Lookup(std::string_view name) const;
  // The symbol at or below `address`; nullopt below the first symbol.
  std::optional<SymbolizedAddress> Symbolize(uint64_t address) const;
  // "native_safe_halt+0xe/0x20", or the hex address when unknown.
  std::string Format(uint64_t address) const;

 private:
  friend absl::StatusOr<SymbolTable> DecodeKallsyms(
      const ReadVirtualFn& read, const struct KallsymsTables& tables);
  // All names live in one string: decoding 200k symbols must not make 200k
  // allocations.
  struct Entry {
    uint64_t address;
    uint32_t name_offset;
    uint32_t name_length;
    char type;
  };
  std::string_view NameOf(const Entry& e) const {
    return std::string_view(names_).substr(e.name_offset, e.name_length);
  }
  void SortIfNeeded();
  using NameIndex = absl::flat_hash_map<std::string_view, uint32_t>;
  const NameIndex& ByName() const;

  std::string names_;
  std::vector<Entry> entries_;  // sorted by address
  // Built on the first name lookup: decoding for backtraces (address ->
  // symbol) should not pay for it. unique_ptrs keep the table movable.
  mutable std::unique_ptr<std::once_flag> index_once_ =
      std::make_unique<std::once_flag>();
  mutable std::unique_ptr<NameIndex> by_name_;
};

// Runtime addresses of the kallsyms tables.
struct KallsymsTables {
  uint64_t num_syms = 0;
  uint64_t names = 0;
  uint64_t token_table = 0;
  uint64_t token_index = 0;
  uint64_t offsets = 0;
  // Pre-6.x "base relative" scheme; absent = PC-relative offsets (each
  // entry holds the symbol's distance from the entry itself).
  std::optional<uint64_t> relative_base;
};

// The SYMBOL() entries VMCOREINFO exports for kallsyms; NotFoundError
// naming the first missing one.
absl::StatusOr<KallsymsTables> KallsymsTablesFromVmcoreinfo(
    const Vmcoreinfo& info);

// Decodes the whole kallsyms table. Every count and range read from memory
// is bounds-checked; lies give errors naming the value.
absl::StatusOr<SymbolTable> DecodeKallsyms(const ReadVirtualFn& read,
                                           const KallsymsTables& tables);

// "ffffffff81000000 T _text" lines.
absl::StatusOr<SymbolTable> ParseSystemMap(std::string_view text);

// Symbols of an ELF image's .symtab (link-time addresses).
absl::StatusOr<SymbolTable> SymbolsFromElfSymtab(absl::Span<const uint8_t> elf);

// KASLR cross-check: MSR_LSTAR holds the runtime address of
// entry_SYSCALL_64. Returns the slide (lstar - link-time address) and
// checks that `runtime` (when non-null) resolves lstar to that symbol.
absl::StatusOr<int64_t> KaslrSlideFromLstar(uint64_t lstar,
                                            uint64_t link_time_entry_syscall_64,
                                            const SymbolTable* runtime);

}  // namespace ktvm::btf

#endif  // KTVM_BTF_KALLSYMS_H_

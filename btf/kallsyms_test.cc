#include "btf/kallsyms.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "btf/kallsyms_test_table.h"
#include "btf/kernel_image_reader.h"
#include "btf/vmcoreinfo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ktvm::btf {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kText = 0xffffffff9a000000ull;

TEST(KallsymsTest, DecodesEveryEncodedSymbol) {
  const testing::BuiltKallsyms b = testing::BuildKallsyms(20000, kText);
  absl::StatusOr<SymbolTable> table = DecodeKallsyms(b.reader(), b.tables);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), b.symbols.size());
  for (size_t i = 0; i < b.symbols.size(); ++i) {
    const KernelSymbol& want = b.symbols[i];
    const SymbolView got = table->at(i);
    ASSERT_EQ(got.name, want.name) << i;
    ASSERT_EQ(got.address, want.address) << want.name;
    ASSERT_EQ(got.type, want.type) << want.name;
  }
  EXPECT_EQ(*table->Lookup(b.symbols[1234].name), b.symbols[1234].address);
  EXPECT_FALSE(table->Lookup("no_such_symbol").has_value());
  const KernelSymbol& s = b.symbols[500];
  const KernelSymbol& next = b.symbols[501];
  std::optional<SymbolizedAddress> r = table->Symbolize(s.address + 5);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, s.name);
  EXPECT_EQ(r->offset, 5u);
  EXPECT_EQ(r->size, next.address - s.address);
  EXPECT_EQ(table->Format(s.address + 5),
            absl::StrFormat("%s+0x5/0x%x", s.name, next.address - s.address));
  EXPECT_FALSE(table->Symbolize(kText - 1).has_value());
}

TEST(KallsymsTest, LiesInTheTablesAreErrors) {
  testing::BuiltKallsyms b = testing::BuildKallsyms(1000, kText);
  // Count far beyond plausibility.
  testing::BuiltKallsyms big = b;
  const uint32_t huge = 0x7fffffff;
  std::memcpy(&big.image[big.tables.num_syms - big.base_va], &huge, 4);
  absl::Status s = DecodeKallsyms(big.reader(), big.tables).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("kallsyms_num_syms"));
  // Table address outside memory (a lying VMCOREINFO).
  KallsymsTables lying = b.tables;
  lying.offsets = 0xffffffffff000000ull;
  s = DecodeKallsyms(b.reader(), lying).status();
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("kallsyms_offsets"));
  // Tables out of order.
  lying = b.tables;
  std::swap(lying.names, lying.token_index);
  EXPECT_FALSE(DecodeKallsyms(b.reader(), lying).ok());
  // A token index pointing past the token table.
  testing::BuiltKallsyms badidx = b;
  badidx.image[badidx.tables.token_index - badidx.base_va + 10] = 0xff;
  badidx.image[badidx.tables.token_index - badidx.base_va + 11] = 0xff;
  s = DecodeKallsyms(badidx.reader(), badidx.tables).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("token_index[5]"));
  // Names cut short: count larger than the names encode.
  testing::BuiltKallsyms more = b;
  const uint32_t n = 1000 + 600;
  std::memcpy(&more.image[more.tables.num_syms - more.base_va], &n, 4);
  EXPECT_FALSE(DecodeKallsyms(more.reader(), more.tables).ok());
}

TEST(SystemMapTest, ParsesAndRejects) {
  absl::StatusOr<SymbolTable> t = ParseSystemMap(
      "ffffffff81000000 T _text\n"
      "ffffffff81000040 t startup_64_setup_gdt_idt\n"
      "ffffffffc0001000 t nft_do_chain\t[nf_tables]\n"
      "ffffffff81a00000 T entry_SYSCALL_64\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 4u);
  EXPECT_EQ(*t->Lookup("entry_SYSCALL_64"), 0xffffffff81a00000ull);
  EXPECT_EQ(*t->Lookup("nft_do_chain"), 0xffffffffc0001000ull);
  EXPECT_EQ(t->Format(0xffffffff81000044ull),
            "startup_64_setup_gdt_idt+0x4/0x9fffc0");
  EXPECT_FALSE(ParseSystemMap("").ok());
  absl::Status s =
      ParseSystemMap("ffffffff81000000 T _text\nnot a line\n").status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2"));
  EXPECT_FALSE(ParseSystemMap("zzzz T x\n").ok());
}

TEST(KaslrTest, SlideFromLstarCrossChecksKallsyms) {
  const uint64_t link = 0xffffffff81e00080ull;
  const uint64_t slide = 0x1c000000;
  std::vector<KernelSymbol> syms = {
      {"_text", 0xffffffff81000000ull + slide, 'T'},
      {"entry_SYSCALL_64", link + slide, 'T'},
      {"entry_SYSCALL_64_after_hwframe", link + slide + 0x40, 'T'}};
  SymbolTable runtime(syms);
  absl::StatusOr<int64_t> got =
      KaslrSlideFromLstar(link + slide, link, &runtime);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, static_cast<int64_t>(slide));
  absl::Status s =
      KaslrSlideFromLstar(link + slide + 0x40, link, &runtime).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_FALSE(KaslrSlideFromLstar(0, link, nullptr).ok());
}

std::string Note(const std::string& text) {
  std::string n;
  auto put = [&](uint32_t v) { n.append(reinterpret_cast<char*>(&v), 4); };
  put(11);
  put(text.size() + 1);
  put(0);
  n.append("VMCOREINFO\0\0", 12);
  n.append(text);
  n.push_back('\0');
  return n;
}

constexpr char kInfo[] =
    "OSRELEASE=7.3.4+deb13-amd64\n"
    "BUILD-ID=abcdef\n"
    "PAGESIZE=4096\n"
    "SYMBOL(init_uts_ns)=ffffffff9b812340\n"
    "SYMBOL(init_top_pgt)=ffffffff9b60a000\n"
    "SYMBOL(kallsyms_names)=ffffffff9b000100\n"
    "OFFSET(list_head.next)=0\n"
    "SIZE(page)=64\n"
    "LENGTH(zone.free_area)=11\n"
    "NUMBER(phys_base)=-1879048192\n"
    "NUMBER(pgtable_l5_enabled)=0\n"
    "KERNELOFFSET=1a000000\n"
    "CRASHTIME=12345\n";

TEST(VmcoreinfoTest, ParsesEveryKindOfLine) {
  absl::StatusOr<Vmcoreinfo> v = ParseVmcoreinfo(kInfo);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->osrelease, "7.3.4+deb13-amd64");
  EXPECT_EQ(v->page_size, 4096u);
  EXPECT_EQ(v->kernel_offset, 0x1a000000u);
  EXPECT_EQ(*v->Symbol("init_uts_ns"), 0xffffffff9b812340ull);
  EXPECT_EQ(*v->KernelPageTableRoot(), 0xffffffff9b60a000ull);
  EXPECT_EQ(v->offsets.at("list_head.next"), 0);
  EXPECT_EQ(v->sizes.at("page"), 64);
  EXPECT_EQ(v->lengths.at("zone.free_area"), 11);
  EXPECT_EQ(*v->phys_base, static_cast<uint64_t>(-1879048192ll));
  EXPECT_EQ(*v->pgtable_l5_enabled, false);
  EXPECT_EQ(v->other.at("CRASHTIME"), "12345");
  EXPECT_FALSE(KallsymsTablesFromVmcoreinfo(*v).ok());
}

TEST(VmcoreinfoTest, RejectsMalformedText) {
  EXPECT_THAT(
      std::string(ParseVmcoreinfo("PAGESIZE=4096\n").status().message()),
      HasSubstr("OSRELEASE"));
  EXPECT_THAT(
      std::string(
          ParseVmcoreinfo("OSRELEASE=x\nPAGESIZE=4k\n").status().message()),
      HasSubstr("line 2"));
  EXPECT_FALSE(
      ParseVmcoreinfo("OSRELEASE=x\nPAGESIZE=4096\nSYMBOL(a)=zz\n").ok());
  EXPECT_FALSE(ParseVmcoreinfo("OSRELEASE=x\nPAGESIZE=4096\ngarbage\n").ok());
}

TEST(VmcoreinfoTest, FoundByScanningPhysicalMemory) {
  std::string mem(1 << 20, '\0');
  // A decoy: the name without a note header, and the bare text.
  std::memcpy(&mem[1000], "VMCOREINFO\0\0OSRELEASE=decoy", 27);
  const std::string note = Note(kInfo);
  std::memcpy(&mem[0x9f000], note.data(), note.size());
  absl::StatusOr<Vmcoreinfo> v = FindVmcoreinfo(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(mem.data()),
                          mem.size()),
      0x100000);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->osrelease, "7.3.4+deb13-amd64");
  EXPECT_EQ(v->found_at_gpa, 0x100000u + 0x9f000 + 24);
  std::string empty(4096, '\0');
  absl::Status s =
      FindVmcoreinfo(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(empty.data()),
                              empty.size()),
          0)
          .status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
}

TEST(VmcoreinfoTest, KallsymsTablesFromFullInfo) {
  const testing::BuiltKallsyms b = testing::BuildKallsyms(300, kText);
  const std::string text = absl::StrFormat(
      "OSRELEASE=t\nPAGESIZE=4096\nSYMBOL(kallsyms_names)=%x\n"
      "SYMBOL(kallsyms_num_syms)=%x\nSYMBOL(kallsyms_token_table)=%x\n"
      "SYMBOL(kallsyms_token_index)=%x\nSYMBOL(kallsyms_offsets)=%x\n",
      b.tables.names, b.tables.num_syms, b.tables.token_table,
      b.tables.token_index, b.tables.offsets);
  absl::StatusOr<Vmcoreinfo> v = ParseVmcoreinfo(text);
  ASSERT_TRUE(v.ok());
  absl::StatusOr<KallsymsTables> t = KallsymsTablesFromVmcoreinfo(*v);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->relative_base.has_value());
  absl::StatusOr<SymbolTable> table = DecodeKallsyms(b.reader(), *t);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 300u);
}

TEST(KernelImageReaderTest, LinearMappingAndBounds) {
  std::vector<uint8_t> ram(1 << 20);
  ram[0x12345] = 0xab;
  const uint64_t phys_base = 0x10000;
  const ReadVirtualFn read = KernelImageReader(ram, phys_base);
  uint8_t b = 0;
  ASSERT_TRUE(read(kX86StartKernelMap + 0x2345, absl::MakeSpan(&b, 1)).ok());
  EXPECT_EQ(b, 0xab);
  absl::Status s = read(0xffff888000000000ull, absl::MakeSpan(&b, 1));
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a kernel-image"));
  s = read(kX86StartKernelMap + (1 << 20), absl::MakeSpan(&b, 1));
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
}

}  // namespace
}  // namespace ktvm::btf

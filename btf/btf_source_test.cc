// BTF from the real Debian kernel (bzImage and extracted vmlinux), from
// synthetic bzImages in every compression, and from bad input.
#include "btf/btf_source.h"

#include <bpf/btf.h>
#include <bzlib.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "btf/bzimage.h"
#include "btf/mapped_file.h"
#include "btf/test_util.h"
#include "btf/type_lookup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ktvm::btf {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void WriteAll(const std::string& path, absl::Span<const uint8_t> data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), data.size());
}

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::string BzImagePath() {
  return testing::RunfilePath("external/kernel/bzImage");
}
std::string VmlinuxPath() {
  return testing::RunfilePath("external/kernel/vmlinux");
}

std::vector<std::string> MemberNames(const struct ::btf* btf, uint32_t id) {
  const struct btf_type* t = btf__type_by_id(btf, id);
  std::vector<std::string> names;
  const struct btf_member* m = btf_members(t);
  for (uint32_t i = 0; i < btf_vlen(t); ++i, ++m) {
    names.push_back(btf__name_by_offset(btf, m->name_off));
  }
  return names;
}

TEST(RealKernelBtfTest, BzImageBtfHasSchedExtAndArenaTypes) {
  BzImageBtfOptions opts;
  opts.cache_dir = TmpDir() + "/cache-facts";
  absl::StatusOr<VmlinuxBtf> v = VmlinuxBtfFromBzImage(BzImagePath(), opts);
  ASSERT_TRUE(v.ok()) << v.status();
  const struct ::btf* btf = v->btf.get();
  EXPECT_GT(btf__type_cnt(btf), 10000u);

  absl::StatusOr<uint32_t> exit_info = RequireFullStruct(btf, "scx_exit_info");
  ASSERT_TRUE(exit_info.ok()) << exit_info.status();
  EXPECT_THAT(
      MemberNames(btf, *exit_info),
      ::testing::IsSupersetOf({"kind", "exit_code", "reason", "msg", "bt"}));
  absl::StatusOr<MemberLocation> kind = MemberOffset(btf, *exit_info, "kind");
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(TypeName(btf, kind->type_id), "enum scx_exit_kind");
  EXPECT_EQ(*EnumValue(btf, "scx_exit_kind", "SCX_EXIT_ERROR_BPF"), 1025);

  absl::StatusOr<uint32_t> arena = RequireFullStruct(btf, "bpf_arena");
  ASSERT_TRUE(arena.ok()) << arena.status();
  EXPECT_TRUE(MemberOffset(btf, *arena, "user_vm_start").ok());
  absl::StatusOr<MemberLocation> kern_vm = MemberOffset(btf, *arena, "kern_vm");
  ASSERT_TRUE(kern_vm.ok());
  EXPECT_EQ(TypeName(btf, kern_vm->type_id), "struct vm_struct *");
  // task_struct is big and has a known member behind anonymous structs.
  absl::StatusOr<uint32_t> task = RequireFullStruct(btf, "task_struct");
  ASSERT_TRUE(task.ok());
  EXPECT_GT(*TypeSize(btf, *task), 4096u);
  EXPECT_TRUE(MemberOffset(btf, *task, "scx.dsq_vtime").ok());
}

TEST(RealKernelBtfTest, BzImageBtfEqualsVmlinuxBtfSection) {
  const std::vector<uint8_t> bz = ReadAll(BzImagePath());
  ASSERT_GT(bz.size(), 1u << 20);
  absl::StatusOr<BzImagePayload> payload = LocatePayload(bz);
  ASSERT_TRUE(payload.ok()) << payload.status();
  std::printf("bzImage: boot protocol %x, payload %s at 0x%lx, %zu bytes\n",
              payload->boot_protocol,
              CompressionName(payload->compression).c_str(),
              payload->file_offset, payload->data.size());
  absl::StatusOr<std::vector<uint8_t>> from_bz = ExtractBtfFromBzImage(bz);
  ASSERT_TRUE(from_bz.ok()) << from_bz.status();

  absl::StatusOr<MappedFile> vmlinux = MappedFile::Open(VmlinuxPath());
  ASSERT_TRUE(vmlinux.ok()) << vmlinux.status();
  absl::StatusOr<std::vector<uint8_t>> from_elf =
      BtfSectionFromElf(vmlinux->bytes());
  ASSERT_TRUE(from_elf.ok()) << from_elf.status();
  EXPECT_EQ(from_bz->size(), from_elf->size());
  EXPECT_TRUE(*from_bz == *from_elf) << "BTF bytes differ";

  absl::StatusOr<BtfPtr> via_file = BtfFromFile(VmlinuxPath());
  ASSERT_TRUE(via_file.ok()) << via_file.status();
  absl::StatusOr<BtfPtr> via_bytes = BtfFromRawBytes(*from_bz);
  ASSERT_TRUE(via_bytes.ok());
  EXPECT_EQ(btf__type_cnt(via_file->get()), btf__type_cnt(via_bytes->get()));
}

TEST(RealKernelBtfTest, CacheIsKeyedByHashAndReused) {
  BzImageBtfOptions opts;
  opts.cache_dir = TmpDir() + "/cache-reuse";
  absl::StatusOr<VmlinuxBtf> cold = VmlinuxBtfFromBzImage(BzImagePath(), opts);
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_FALSE(cold->from_cache);
  EXPECT_EQ(cold->bzimage_sha256.size(), 64u);
  EXPECT_THAT(cold->cache_path, HasSubstr(cold->bzimage_sha256));
  absl::StatusOr<VmlinuxBtf> warm = VmlinuxBtfFromBzImage(BzImagePath(), opts);
  ASSERT_TRUE(warm.ok()) << warm.status();
  EXPECT_TRUE(warm->from_cache);
  EXPECT_EQ(warm->bzimage_sha256, cold->bzimage_sha256);
  // A copy (new inode, same bytes) is hashed and hits the same entry.
  const std::string copy = TmpDir() + "/bzImage-copy";
  WriteAll(copy, ReadAll(BzImagePath()));
  absl::StatusOr<VmlinuxBtf> via_copy = VmlinuxBtfFromBzImage(copy, opts);
  ASSERT_TRUE(via_copy.ok()) << via_copy.status();
  EXPECT_TRUE(via_copy->from_cache);
  EXPECT_EQ(via_copy->bzimage_sha256, cold->bzimage_sha256);
  // Changing the copy's bytes changes the key: no stale hit.
  std::vector<uint8_t> changed = ReadAll(copy);
  changed[100] ^= 1;
  WriteAll(copy, changed);
  absl::StatusOr<VmlinuxBtf> changed_btf = VmlinuxBtfFromBzImage(copy, opts);
  ASSERT_TRUE(changed_btf.ok()) << changed_btf.status();
  EXPECT_NE(changed_btf->bzimage_sha256, cold->bzimage_sha256);
  EXPECT_FALSE(changed_btf->from_cache);
  EXPECT_EQ(btf__type_cnt(cold->btf.get()), btf__type_cnt(warm->btf.get()));
  uint32_t a = 0, b = 0;
  const void* ra = btf__raw_data(cold->btf.get(), &a);
  const void* rb = btf__raw_data(warm->btf.get(), &b);
  ASSERT_EQ(a, b);
  EXPECT_EQ(std::memcmp(ra, rb, a), 0);

  // A corrupted cache entry is not trusted: it is rebuilt.
  std::vector<uint8_t> junk(100, 0x42);
  WriteAll(cold->cache_path, junk);
  absl::StatusOr<VmlinuxBtf> rebuilt =
      VmlinuxBtfFromBzImage(BzImagePath(), opts);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_FALSE(rebuilt->from_cache);
  EXPECT_EQ(btf__type_cnt(rebuilt->btf.get()), btf__type_cnt(cold->btf.get()));
  EXPECT_EQ(ReadAll(cold->cache_path).size(), a);
}

TEST(CacheDirTest, EnvironmentOrder) {
  BzImageBtfOptions opts;
  setenv("KTVM_CACHE_DIR", "/x/ktvm-cache", 1);
  setenv("XDG_CACHE_HOME", "/y", 1);
  EXPECT_EQ(ResolveCacheDir(opts), "/x/ktvm-cache");
  unsetenv("KTVM_CACHE_DIR");
  EXPECT_EQ(ResolveCacheDir(opts), "/y/ktvm");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/z", 1);
  EXPECT_EQ(ResolveCacheDir(opts), "/home/z/.cache/ktvm");
  opts.cache_dir = "/explicit";
  EXPECT_EQ(ResolveCacheDir(opts), "/explicit");
}

// --- synthetic bzImages in every compression -------------------------------

std::vector<uint8_t> Compress(Compression c, absl::Span<const uint8_t> in) {
  std::vector<uint8_t> out;
  switch (c) {
    case Compression::kZstd: {
      out.resize(ZSTD_compressBound(in.size()));
      out.resize(
          ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
      break;
    }
    case Compression::kGzip: {
      z_stream zs{};
      deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
      out.resize(deflateBound(&zs, in.size()) + 32);
      zs.next_in = const_cast<Bytef*>(in.data());
      zs.avail_in = in.size();
      zs.next_out = out.data();
      zs.avail_out = out.size();
      EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
      out.resize(zs.total_out);
      deflateEnd(&zs);
      break;
    }
    case Compression::kXz:
    case Compression::kLzma: {
      lzma_stream s = LZMA_STREAM_INIT;
      if (c == Compression::kXz) {
        EXPECT_EQ(lzma_easy_encoder(&s, 6, LZMA_CHECK_CRC32), LZMA_OK);
      } else {
        lzma_options_lzma o;
        lzma_lzma_preset(&o, 6);
        EXPECT_EQ(lzma_alone_encoder(&s, &o), LZMA_OK);
      }
      out.resize(in.size() * 2 + 4096);
      s.next_in = in.data();
      s.avail_in = in.size();
      s.next_out = out.data();
      s.avail_out = out.size();
      EXPECT_EQ(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
      out.resize(s.total_out);
      lzma_end(&s);
      break;
    }
    case Compression::kBzip2: {
      unsigned int len = in.size() * 2 + 4096;
      out.resize(len);
      EXPECT_EQ(BZ2_bzBuffToBuffCompress(
                    reinterpret_cast<char*>(out.data()), &len,
                    reinterpret_cast<char*>(const_cast<uint8_t*>(in.data())),
                    in.size(), 9, 0, 0),
                BZ_OK);
      out.resize(len);
      break;
    }
    case Compression::kLz4: {
      // Legacy format, as the kernel's `lz4 -l`: 8 MiB blocks.
      const uint8_t magic[] = {0x02, 0x21, 0x4c, 0x18};
      out.assign(magic, magic + 4);
      std::vector<char> block(LZ4_compressBound(in.size()));
      const int n =
          LZ4_compress_default(reinterpret_cast<const char*>(in.data()),
                               block.data(), in.size(), block.size());
      for (int i = 0; i < 4; ++i) out.push_back((n >> (8 * i)) & 0xff);
      out.insert(out.end(), block.begin(), block.begin() + n);
      break;
    }
    default:
      ADD_FAILURE() << "no compressor for " << CompressionName(c);
  }
  // The kernel build appends the decompressed size.
  for (int i = 0; i < 4; ++i) out.push_back((in.size() >> (8 * i)) & 0xff);
  return out;
}

// A minimal bzImage around `payload`: boot sector with the setup header,
// one setup sector, then the payload at payload_offset 0x40.
std::vector<uint8_t> MakeBzImage(absl::Span<const uint8_t> payload) {
  std::vector<uint8_t> img(1024 + 0x40, 0);
  img[0x1f1] = 1;  // setup_sects
  img[0x1fe] = 0x55;
  img[0x1ff] = 0xaa;
  std::memcpy(&img[0x202], "HdrS", 4);
  img[0x206] = 0x0f;
  img[0x207] = 0x02;
  const uint32_t off = 0x40, len = payload.size();
  std::memcpy(&img[0x248], &off, 4);
  std::memcpy(&img[0x24c], &len, 4);
  img.insert(img.end(), payload.begin(), payload.end());
  return img;
}

class CompressionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionTest, ExtractsBtfFromSyntheticBzImage) {
  // The fixture object is an ELF with a .BTF section, like vmlinux.
  const std::vector<uint8_t> elf =
      ReadAll(testing::RunfilePath("btf/testdata/fixture.bpf.o"));
  ASSERT_FALSE(elf.empty());
  const std::vector<uint8_t> bz = MakeBzImage(Compress(GetParam(), elf));
  absl::StatusOr<BzImagePayload> p = LocatePayload(bz);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->compression, GetParam());
  absl::StatusOr<std::vector<uint8_t>> btf = ExtractBtfFromBzImage(bz);
  ASSERT_TRUE(btf.ok()) << btf.status();
  absl::StatusOr<std::vector<uint8_t>> want = BtfSectionFromElf(elf);
  ASSERT_TRUE(want.ok());
  EXPECT_TRUE(*btf == *want);

  // The same payload cut in half fails with a message, not a crash.
  std::vector<uint8_t> half = Compress(GetParam(), elf);
  half.resize(half.size() / 2);
  absl::Status s = ExtractBtfFromBzImage(MakeBzImage(half)).status();
  EXPECT_FALSE(s.ok());
  std::printf("%s cut in half: %s\n", CompressionName(GetParam()).c_str(),
              std::string(s.message()).c_str());
}

INSTANTIATE_TEST_SUITE_P(
    AllKernelCompressions, CompressionTest,
    ::testing::Values(Compression::kZstd, Compression::kGzip, Compression::kXz,
                      Compression::kLzma, Compression::kBzip2,
                      Compression::kLz4),
    [](const auto& info) { return CompressionName(info.param); });

// --- bad input ---------------------------------------------------------------

TEST(BadInputTest, TruncatedAndCorruptBtf) {
  absl::StatusOr<MappedFile> vmlinux = MappedFile::Open(VmlinuxPath());
  ASSERT_TRUE(vmlinux.ok());
  absl::StatusOr<std::vector<uint8_t>> good =
      BtfSectionFromElf(vmlinux->bytes());
  ASSERT_TRUE(good.ok());

  for (size_t cut : {size_t{0}, size_t{10}, size_t{24}, size_t{4096},
                     good->size() / 2, good->size() - 1}) {
    std::vector<uint8_t> t(good->begin(), good->begin() + cut);
    absl::Status s = BtfFromRawBytes(t).status();
    EXPECT_FALSE(s.ok()) << "cut at " << cut;
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
  std::vector<uint8_t> bad_magic = *good;
  bad_magic[0] ^= 0xff;
  absl::Status s = BtfFromRawBytes(bad_magic).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("magic"));
  // String section length pointing past the end.
  std::vector<uint8_t> bad_len = *good;
  bad_len[20] = bad_len[21] = bad_len[22] = bad_len[23] = 0xff;
  EXPECT_FALSE(BtfFromRawBytes(bad_len).ok());
  // Garbage in the type section: an impossible kind in the first type.
  std::vector<uint8_t> bad_kind = *good;
  const uint32_t hdr_len = bad_kind[4] | (bad_kind[5] << 8);
  bad_kind[hdr_len + 7] = 0x7f;  // info's kind bits := 31
  EXPECT_FALSE(BtfFromRawBytes(bad_kind).ok());
}

TEST(BadInputTest, NotABzImage) {
  const std::vector<uint8_t> tiny = {1, 2, 3};
  absl::Status s = LocatePayload(tiny).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a bzImage"));
  std::vector<uint8_t> zeros(8192, 0);
  s = ExtractBtfFromBzImage(zeros).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("HdrS"));
  // The ELF vmlinux is not a bzImage either.
  const std::string path = TmpDir() + "/not-a-bzimage";
  WriteAll(path, ReadAll(testing::RunfilePath("btf/testdata/fixture.bpf.o")));
  BzImageBtfOptions opts;
  opts.use_cache = false;
  s = VmlinuxBtfFromBzImage(path, opts).status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a bzImage"));
  s = VmlinuxBtfFromBzImage(TmpDir() + "/missing-file", opts).status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
}

TEST(BadInputTest, RealBzImageWithUnknownCompressionOrCutShort) {
  std::vector<uint8_t> bz = ReadAll(BzImagePath());
  absl::StatusOr<BzImagePayload> p = LocatePayload(bz);
  ASSERT_TRUE(p.ok());
  const uint64_t off = p->file_offset;

  std::vector<uint8_t> unknown = bz;
  std::memcpy(&unknown[off], "\xde\xad\xbe\xef\x00\x11", 6);
  absl::Status s = ExtractBtfFromBzImage(unknown).status();
  EXPECT_TRUE(absl::IsUnimplemented(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("de ad be ef"));

  std::vector<uint8_t> lzo = bz;
  std::memcpy(&lzo[off], "\x89LZO", 4);
  s = ExtractBtfFromBzImage(lzo).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("lzo"));

  std::vector<uint8_t> cut(bz.begin(), bz.begin() + off + 1000);
  s = ExtractBtfFromBzImage(cut).status();
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;

  // Corrupt compressed data in the middle of the stream.
  std::vector<uint8_t> corrupt = bz;
  for (size_t i = 0; i < 4096; ++i) corrupt[off + 100000 + i] ^= 0x5a;
  s = ExtractBtfFromBzImage(corrupt).status();
  EXPECT_FALSE(s.ok());
  std::printf("corrupt zstd stream: %s\n", std::string(s.message()).c_str());
}

TEST(SplitBtfTest, ProgramBtfOverVmlinuxBase) {
  absl::StatusOr<BtfPtr> base = BtfFromFile(VmlinuxPath());
  ASSERT_TRUE(base.ok()) << base.status();
  // Build split BTF the way bpftool/libbpf would for a module: a new type
  // referring to a base type by id.
  struct ::btf* split = btf__new_empty_split(base->get());
  ASSERT_NE(split, nullptr);
  const int task =
      btf__find_by_name_kind(base->get(), "task_struct", BTF_KIND_STRUCT);
  ASSERT_GT(task, 0);
  const int ptr = btf__add_ptr(split, task);
  const int st = btf__add_struct(split, "my_prog_ctx", 16);
  btf__add_field(split, "task", ptr, 0, 0);
  btf__add_field(split, "cookie",
                 btf__find_by_name_kind(base->get(), "u64", BTF_KIND_TYPEDEF),
                 64, 0);
  uint32_t size = 0;
  const void* raw = btf__raw_data(split, &size);
  std::vector<uint8_t> bytes(static_cast<const uint8_t*>(raw),
                             static_cast<const uint8_t*>(raw) + size);
  btf__free(split);

  absl::StatusOr<BtfPtr> parsed = SplitBtfFromRawBytes(bytes, base->get());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<uint32_t> id = RequireFullStruct(parsed->get(), "my_prog_ctx");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(static_cast<int>(*id), st);
  absl::StatusOr<MemberLocation> m = MemberOffset(parsed->get(), *id, "task");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(TypeName(parsed->get(), m->type_id), "struct task_struct *");
  EXPECT_EQ(MemberOffset(parsed->get(), *id, "cookie")->byte_offset, 8u);
  // Base types stay reachable through the split object.
  EXPECT_TRUE(RequireFullStruct(parsed->get(), "scx_exit_info").ok());
  EXPECT_FALSE(SplitBtfFromRawBytes(bytes, nullptr).ok());
}

}  // namespace
}  // namespace ktvm::btf

#include "btf/bzimage.h"

#include <bzlib.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ktvm::btf {
namespace {

// Setup header fields (Documentation/arch/x86/boot.rst).
constexpr size_t kSetupSectsOff = 0x1f1;
constexpr size_t kBootFlagOff = 0x1fe;
constexpr size_t kHeaderMagicOff = 0x202;
constexpr size_t kVersionOff = 0x206;
constexpr size_t kPayloadOffsetOff = 0x248;
constexpr size_t kPayloadLengthOff = 0x24c;
constexpr uint16_t kMinProtocolWithPayload = 0x208;

uint16_t Le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t Le32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

bool StartsWith(absl::Span<const uint8_t> d,
                std::initializer_list<uint8_t> magic) {
  return d.size() >= magic.size() &&
         std::equal(magic.begin(), magic.end(), d.begin());
}

// The size the kernel build appended after the compressed stream, as a
// reservation hint only (a lying value must not cause a huge allocation).
size_t SizeHint(absl::Span<const uint8_t> payload, uint64_t max_output) {
  if (payload.size() < 4) return 0;
  const uint32_t hint = Le32(payload.data() + payload.size() - 4);
  return std::min<uint64_t>(hint, max_output);
}

absl::Status TooBig(uint64_t max_output) {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "decompressed payload exceeds the %u-byte cap", max_output));
}

absl::StatusOr<std::vector<uint8_t>> Zstd(absl::Span<const uint8_t> in,
                                          uint64_t max_output) {
  std::vector<uint8_t> out;
  out.resize(std::max<size_t>(SizeHint(in, max_output), 1 << 20));
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (ctx == nullptr) return absl::InternalError("ZSTD_createDCtx failed");
  // The kernel compresses with a large window (--zstd=wlog=...).
  ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, 31);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  absl::Status status;
  while (true) {
    const size_t r = ZSTD_decompressStream(ctx, &ob, &ib);
    if (ZSTD_isError(r)) {
      status = absl::DataLossError(absl::StrFormat(
          "zstd: %s at input byte %u", ZSTD_getErrorName(r), ib.pos));
      break;
    }
    if (r == 0) break;  // frame complete
    if (ob.pos == ob.size) {
      if (out.size() >= max_output) {
        status = TooBig(max_output);
        break;
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_output));
      ob.dst = out.data();
      ob.size = out.size();
    } else if (ib.pos == ib.size) {
      status = absl::DataLossError("zstd: input ended inside the frame");
      break;
    }
  }
  ZSTD_freeDCtx(ctx);
  if (!status.ok()) return status;
  out.resize(ob.pos);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Gzip(absl::Span<const uint8_t> in,
                                          uint64_t max_output) {
  std::vector<uint8_t> out(std::max<size_t>(SizeHint(in, max_output), 1 << 20));
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("inflateInit2 failed");
  }
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = in.size();
  size_t produced = 0;
  absl::Status status;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_output) {
        status = TooBig(max_output);
        break;
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_output));
    }
    const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
    zs.next_out = out.data() + produced;
    zs.avail_out = room;
    const int r = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (r == Z_STREAM_END) break;
    if (r != Z_OK && r != Z_BUF_ERROR) {
      status = absl::DataLossError(absl::StrFormat(
          "gzip: %s (code %d)", zs.msg ? zs.msg : "inflate error", r));
      break;
    }
    if (r == Z_BUF_ERROR && zs.avail_in == 0) {
      status = absl::DataLossError("gzip: input ended inside the stream");
      break;
    }
  }
  inflateEnd(&zs);
  if (!status.ok()) return status;
  out.resize(produced);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Xz(absl::Span<const uint8_t> in,
                                        uint64_t max_output, bool lzma_alone) {
  std::vector<uint8_t> out(std::max<size_t>(SizeHint(in, max_output), 1 << 20));
  lzma_stream s = LZMA_STREAM_INIT;
  const lzma_ret init = lzma_alone ? lzma_alone_decoder(&s, UINT64_MAX)
                                   : lzma_stream_decoder(&s, UINT64_MAX, 0);
  if (init != LZMA_OK) {
    return absl::InternalError(absl::StrFormat("lzma init failed (%d)", init));
  }
  s.next_in = in.data();
  s.avail_in = in.size();
  size_t produced = 0;
  absl::Status status;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_output) {
        status = TooBig(max_output);
        break;
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_output));
    }
    s.next_out = out.data() + produced;
    s.avail_out = out.size() - produced;
    const size_t before = s.avail_out;
    // LZMA_FINISH: all input is present; trailing size bytes after the
    // stream end are ignored.
    const lzma_ret r = lzma_code(&s, LZMA_FINISH);
    produced += before - s.avail_out;
    if (r == LZMA_STREAM_END) break;
    if (r == LZMA_BUF_ERROR && s.avail_out != 0) {
      status = absl::DataLossError("xz/lzma: input ended inside the stream");
      break;
    }
    if (r != LZMA_OK && r != LZMA_BUF_ERROR) {
      status = absl::DataLossError(
          absl::StrFormat("xz/lzma: decoder error %d at input byte %u", r,
                          in.size() - s.avail_in));
      break;
    }
  }
  lzma_end(&s);
  if (!status.ok()) return status;
  out.resize(produced);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Bzip2(absl::Span<const uint8_t> in,
                                           uint64_t max_output) {
  std::vector<uint8_t> out(std::max<size_t>(SizeHint(in, max_output), 1 << 20));
  bz_stream s{};
  if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
    return absl::InternalError("BZ2_bzDecompressInit failed");
  }
  s.next_in = reinterpret_cast<char*>(const_cast<uint8_t*>(in.data()));
  s.avail_in = in.size();
  size_t produced = 0;
  absl::Status status;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_output) {
        status = TooBig(max_output);
        break;
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_output));
    }
    const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
    s.next_out = reinterpret_cast<char*>(out.data() + produced);
    s.avail_out = room;
    const int r = BZ2_bzDecompress(&s);
    produced += room - s.avail_out;
    if (r == BZ_STREAM_END) break;
    if (r != BZ_OK) {
      status = absl::DataLossError(absl::StrFormat("bzip2: error %d", r));
      break;
    }
    if (s.avail_in == 0 && s.avail_out != 0) {
      status = absl::DataLossError("bzip2: input ended inside the stream");
      break;
    }
  }
  BZ2_bzDecompressEnd(&s);
  if (!status.ok()) return status;
  out.resize(produced);
  return out;
}

// The kernel uses LZ4's legacy format (lz4 -l): magic, then blocks of
// [le32 compressed size][data], each inflating to at most 8 MiB.
absl::StatusOr<std::vector<uint8_t>> Lz4Legacy(absl::Span<const uint8_t> in,
                                               uint64_t max_output) {
  constexpr size_t kBlockMax = 8 << 20;
  std::vector<uint8_t> out;
  out.reserve(SizeHint(in, max_output));
  size_t pos = 4;
  while (pos + 4 <= in.size()) {
    const uint32_t csize = Le32(in.data() + pos);
    // Another frame's magic, or the appended size, ends the block list.
    if (csize == 0x184C2102 || pos + 4 + csize > in.size()) break;
    pos += 4;
    const size_t base = out.size();
    if (base + kBlockMax > max_output) return TooBig(max_output);
    out.resize(base + kBlockMax);
    const int n = LZ4_decompress_safe(
        reinterpret_cast<const char*>(in.data() + pos),
        reinterpret_cast<char*>(out.data() + base), csize, kBlockMax);
    if (n < 0) {
      return absl::DataLossError(
          absl::StrFormat("lz4: corrupt block at input byte %u", pos));
    }
    out.resize(base + n);
    pos += csize;
  }
  if (out.empty()) return absl::DataLossError("lz4: no blocks decoded");
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Lz4Frame(absl::Span<const uint8_t> in,
                                              uint64_t max_output) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
    return absl::InternalError("LZ4F_createDecompressionContext failed");
  }
  std::vector<uint8_t> out(std::max<size_t>(SizeHint(in, max_output), 1 << 20));
  size_t in_pos = 0, produced = 0;
  absl::Status status;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_output) {
        status = TooBig(max_output);
        break;
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_output));
    }
    size_t dst = out.size() - produced, src = in.size() - in_pos;
    const size_t r = LZ4F_decompress(ctx, out.data() + produced, &dst,
                                     in.data() + in_pos, &src, nullptr);
    if (LZ4F_isError(r)) {
      status =
          absl::DataLossError(absl::StrFormat("lz4: %s", LZ4F_getErrorName(r)));
      break;
    }
    produced += dst;
    in_pos += src;
    if (r == 0) break;
    if (in_pos == in.size() && dst == 0) {
      status = absl::DataLossError("lz4: input ended inside the frame");
      break;
    }
  }
  LZ4F_freeDecompressionContext(ctx);
  if (!status.ok()) return status;
  out.resize(produced);
  return out;
}

}  // namespace

std::string CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kLzma:
      return "lzma";
    case Compression::kXz:
      return "xz";
    case Compression::kLzo:
      return "lzo";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      return "none";
  }
  return "?";
}

absl::StatusOr<Compression> DetectCompression(absl::Span<const uint8_t> d) {
  if (StartsWith(d, {0x1f, 0x8b})) return Compression::kGzip;
  if (StartsWith(d, {'B', 'Z', 'h'})) return Compression::kBzip2;
  if (StartsWith(d, {0xfd, '7', 'z', 'X', 'Z', 0x00})) return Compression::kXz;
  if (StartsWith(d, {0x5d, 0x00, 0x00})) return Compression::kLzma;
  if (StartsWith(d, {0x89, 'L', 'Z', 'O'})) return Compression::kLzo;
  if (StartsWith(d, {0x02, 0x21, 0x4c, 0x18}) ||
      StartsWith(d, {0x04, 0x22, 0x4d, 0x18})) {
    return Compression::kLz4;
  }
  if (StartsWith(d, {0x28, 0xb5, 0x2f, 0xfd})) return Compression::kZstd;
  if (StartsWith(d, {0x7f, 'E', 'L', 'F'})) return Compression::kNone;
  std::string magic;
  for (size_t i = 0; i < std::min<size_t>(d.size(), 6); ++i) {
    absl::StrAppendFormat(&magic, "%02x ", d[i]);
  }
  return absl::UnimplementedError(absl::StrFormat(
      "unknown kernel payload compression (first bytes: %s)", magic));
}

absl::StatusOr<BzImagePayload> LocatePayload(absl::Span<const uint8_t> bz) {
  if (bz.size() < kPayloadLengthOff + 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not a bzImage: %u bytes is shorter than the setup header", bz.size()));
  }
  if (std::memcmp(bz.data() + kHeaderMagicOff, "HdrS", 4) != 0) {
    return absl::InvalidArgumentError(
        "not a bzImage: no \"HdrS\" magic at offset 0x202");
  }
  if (Le16(bz.data() + kBootFlagOff) != 0xaa55) {
    return absl::InvalidArgumentError(
        "not a bzImage: boot flag at 0x1fe is not 0xaa55");
  }
  BzImagePayload p;
  p.boot_protocol = Le16(bz.data() + kVersionOff);
  if (p.boot_protocol < kMinProtocolWithPayload) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "boot protocol %x.%02x predates payload_offset (needs 2.08)",
        p.boot_protocol >> 8, p.boot_protocol & 0xff));
  }
  p.setup_sects = bz[kSetupSectsOff] == 0 ? 4 : bz[kSetupSectsOff];
  const uint64_t pm_start = (uint64_t{p.setup_sects} + 1) * 512;
  const uint32_t off = Le32(bz.data() + kPayloadOffsetOff);
  const uint32_t len = Le32(bz.data() + kPayloadLengthOff);
  p.file_offset = pm_start + off;
  if (len == 0 || p.file_offset > bz.size() ||
      len > bz.size() - p.file_offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "bzImage payload [0x%x, +0x%x) lies outside the %u-byte file",
        p.file_offset, len, bz.size()));
  }
  p.data = bz.subspan(p.file_offset, len);
  absl::StatusOr<Compression> c = DetectCompression(p.data);
  if (!c.ok()) return c.status();
  p.compression = *c;
  return p;
}

absl::StatusOr<std::vector<uint8_t>> DecompressPayload(
    absl::Span<const uint8_t> payload, Compression compression,
    uint64_t max_output) {
  switch (compression) {
    case Compression::kZstd:
      return Zstd(payload, max_output);
    case Compression::kGzip:
      return Gzip(payload, max_output);
    case Compression::kXz:
      return Xz(payload, max_output, /*lzma_alone=*/false);
    case Compression::kLzma:
      return Xz(payload, max_output, /*lzma_alone=*/true);
    case Compression::kBzip2:
      return Bzip2(payload, max_output);
    case Compression::kLz4:
      if (StartsWith(payload, {0x02, 0x21, 0x4c, 0x18})) {
        return Lz4Legacy(payload, max_output);
      }
      return Lz4Frame(payload, max_output);
    case Compression::kNone:
      return std::vector<uint8_t>(payload.begin(), payload.end());
    case Compression::kLzo:
      return absl::UnimplementedError(
          "lzo-compressed kernels are not supported (no LZO library)");
  }
  return absl::InvalidArgumentError("bad compression value");
}

}  // namespace ktvm::btf

#include "vmm/guest/control_format.h"

namespace ktvm::guest {

std::string EncodeControlValue(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (unsigned char c : raw) {
    const bool plain = c > ' ' && c < 0x7f && c != '%' && c != '=';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

bool DecodeControlValueTo(std::string_view encoded, std::string* out) {
  out->clear();
  out->reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out->push_back(encoded[i]);
      continue;
    }
    if (i + 2 >= encoded.size()) return false;
    const int hi = HexDigit(encoded[i + 1]);
    const int lo = HexDigit(encoded[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return true;
}

std::string FormatControlLine(std::string_view event,
                              const std::vector<ControlField>& fields) {
  std::string line(kControlPrefix);
  line.push_back(' ');
  line.append(event);
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    line.append(key);
    line.push_back('=');
    line.append(EncodeControlValue(value));
  }
  // Keep the line parseable even when a value is huge: cut the encoded text
  // (the host reports the truncation as a bad escape at worst, never a crash).
  if (line.size() > kMaxControlLineBytes) line.resize(kMaxControlLineBytes);
  line.push_back('\n');
  return line;
}

std::string FormatControlLine(std::string_view event,
                              std::initializer_list<ControlField> fields) {
  return FormatControlLine(event, std::vector<ControlField>(fields));
}

}  // namespace ktvm::guest

#include "vmm/backend/x86_register_text.h"

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ktvm::backend {
namespace {

using ktvm::report::X86DescriptorTable;
using ktvm::report::X86Registers;
using ktvm::report::X86Segment;

bool ParseHex(absl::string_view s, uint64_t* out) {
  return !s.empty() && s.size() <= 16 && absl::SimpleHexAtoi(s, out);
}

X86Segment* SegmentField(X86Registers& r, absl::string_view name) {
  if (name == "CS") return r.mutable_cs();
  if (name == "DS") return r.mutable_ds();
  if (name == "ES") return r.mutable_es();
  if (name == "FS") return r.mutable_fs();
  if (name == "GS") return r.mutable_gs();
  if (name == "SS") return r.mutable_ss();
  if (name == "TR") return r.mutable_tr();
  if (name == "LDT") return r.mutable_ldt();
  return nullptr;
}

X86DescriptorTable* TableField(X86Registers& r, absl::string_view name) {
  if (name == "GDT") return r.mutable_gdt();
  if (name == "IDT") return r.mutable_idt();
  return nullptr;
}

// Plain NAME=HEX registers and where they go.
bool SetScalar(X86Registers& r, absl::string_view name, uint64_t v) {
  static const auto* const kSetters =
      new std::map<std::string, void (X86Registers::*)(uint64_t), std::less<>>{
          {"RAX", &X86Registers::set_rax},   {"RBX", &X86Registers::set_rbx},
          {"RCX", &X86Registers::set_rcx},   {"RDX", &X86Registers::set_rdx},
          {"RSI", &X86Registers::set_rsi},   {"RDI", &X86Registers::set_rdi},
          {"RBP", &X86Registers::set_rbp},   {"RSP", &X86Registers::set_rsp},
          {"R8", &X86Registers::set_r8},     {"R9", &X86Registers::set_r9},
          {"R10", &X86Registers::set_r10},   {"R11", &X86Registers::set_r11},
          {"R12", &X86Registers::set_r12},   {"R13", &X86Registers::set_r13},
          {"R14", &X86Registers::set_r14},   {"R15", &X86Registers::set_r15},
          {"RIP", &X86Registers::set_rip},   {"RFL", &X86Registers::set_rflags},
          {"CR0", &X86Registers::set_cr0},   {"CR2", &X86Registers::set_cr2},
          {"CR3", &X86Registers::set_cr3},   {"CR4", &X86Registers::set_cr4},
          {"EFER", &X86Registers::set_efer},
      };
  auto it = kSetters->find(name);
  if (it == kSetters->end()) return false;
  (r.*(it->second))(v);
  return true;
}

absl::Status ParseSection(int index, absl::string_view body,
                          ParsedCpuRegisters& out) {
  X86Registers& r = out.regs;
  std::map<std::string, bool> seen;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    // "R8 =..." and "ES =0000 ..." put a space before '='; "GDT=     base"
    // puts spaces after it. Normalise to NAME=VALUE tokens.
    std::string norm(line);
    while (norm.find(" =") != std::string::npos) {
      norm = absl::StrReplaceAll(norm, {{" =", "="}});
    }
    while (norm.find("= ") != std::string::npos) {
      norm = absl::StrReplaceAll(norm, {{"= ", "="}});
    }
    std::vector<absl::string_view> tokens =
        absl::StrSplit(norm, ' ', absl::SkipEmpty());
    if (tokens.empty()) continue;
    const size_t eq = tokens[0].find('=');
    if (eq == absl::string_view::npos) continue;
    const absl::string_view first_name = tokens[0].substr(0, eq);
    if (X86Segment* seg = SegmentField(r, first_name)) {
      uint64_t sel, base, limit, flags;
      if (tokens.size() < 4 || !ParseHex(tokens[0].substr(eq + 1), &sel) ||
          !ParseHex(tokens[1], &base) || !ParseHex(tokens[2], &limit) ||
          !ParseHex(tokens[3], &flags)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "CPU#%d: cannot parse segment line \"%s\"", index, line));
      }
      seg->set_selector(static_cast<uint32_t>(sel));
      seg->set_base(base);
      seg->set_limit(static_cast<uint32_t>(limit));
      seg->set_attributes(
          VmxAttributesFromDescriptorFlags(static_cast<uint32_t>(flags)));
      if (first_name == "FS") r.set_fs_base(base);
      if (first_name == "GS") r.set_gs_base(base);
      seen[std::string(first_name)] = true;
      continue;
    }
    if (X86DescriptorTable* table = TableField(r, first_name)) {
      uint64_t base, limit;
      if (tokens.size() < 2 || !ParseHex(tokens[0].substr(eq + 1), &base) ||
          !ParseHex(tokens[1], &limit)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "CPU#%d: cannot parse descriptor table line \"%s\"", index, line));
      }
      table->set_base(base);
      table->set_limit(static_cast<uint32_t>(limit));
      continue;
    }
    for (absl::string_view tok : tokens) {
      const size_t teq = tok.find('=');
      if (teq == absl::string_view::npos) continue;
      const absl::string_view name = tok.substr(0, teq);
      const absl::string_view value = tok.substr(teq + 1);
      if (name == "HLT") {
        out.halted = value == "1";
        continue;
      }
      uint64_t v;
      if (!ParseHex(value, &v)) continue;  // FPU/vector state etc.
      if (SetScalar(r, name, v)) seen[std::string(name)] = true;
    }
  }
  for (const char* required : {"RIP", "RSP", "CR0", "CR3", "CR4", "EFER"}) {
    if (!seen[required]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CPU#%d: register %s missing from \"info registers\" output", index,
          required));
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t VmxAttributesFromDescriptorFlags(uint32_t flags) {
  uint32_t attr = (flags >> 8) & 0xf0ff;
  const bool present = (flags & (1u << 15)) != 0;
  if (!present) attr |= 1u << 16;
  return attr;
}

absl::StatusOr<std::vector<ParsedCpuRegisters>> ParseInfoRegisters(
    std::string_view text_in) {
  const absl::string_view text(text_in.data(), text_in.size());
  std::vector<ParsedCpuRegisters> cpus;
  size_t pos = text.find("CPU#");
  if (pos == absl::string_view::npos) {
    // A single-CPU dump without -a has no header; treat it as CPU#0.
    ParsedCpuRegisters only;
    absl::Status s = ParseSection(0, text, only);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "no CPU section in \"info registers\" output: %s", s.message()));
    }
    cpus.push_back(std::move(only));
    return cpus;
  }
  while (pos != absl::string_view::npos) {
    const size_t next = text.find("CPU#", pos + 4);
    absl::string_view section = text.substr(pos, next == absl::string_view::npos
                                                     ? absl::string_view::npos
                                                     : next - pos);
    const size_t eol = section.find('\n');
    absl::string_view header = absl::StripAsciiWhitespace(section.substr(
        4, eol == absl::string_view::npos ? section.size() - 4 : eol - 4));
    int index = 0;
    if (!absl::SimpleAtoi(header, &index)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bad CPU header \"CPU#%s\" in \"info registers\" output", header));
    }
    ParsedCpuRegisters cpu;
    cpu.cpu_index = index;
    absl::Status s =
        ParseSection(index,
                     eol == absl::string_view::npos ? absl::string_view()
                                                    : section.substr(eol + 1),
                     cpu);
    if (!s.ok()) return s;
    cpus.push_back(std::move(cpu));
    pos = next;
  }
  return cpus;
}

}  // namespace ktvm::backend

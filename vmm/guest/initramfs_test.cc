#include "vmm/guest/initramfs.h"

#include <cstdlib>
#include <fstream>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "vmm/guest/elf_dependencies.h"

namespace ktvm::guest {
namespace {

std::string TmpDir() { return std::getenv("TEST_TMPDIR"); }

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The static init built by //vmm/guest:init (test data).
constexpr char kInit[] = "vmm/guest/init";

TEST(ElfDependenciesTest, DynamicExecutableNeedsLibcAndInterpreter) {
  auto deps = ResolveElfDependencies("/bin/true");
  ASSERT_TRUE(deps.ok()) << deps.status();
  bool libc = false, interp = false;
  for (const auto& d : *deps) {
    libc |= d.path.find("libc.so.6") != std::string::npos;
    interp |= d.is_interpreter && d.path.find("ld-linux") != std::string::npos;
  }
  EXPECT_TRUE(libc);
  EXPECT_TRUE(interp);
}

TEST(ElfDependenciesTest, StaticExecutableNeedsNothing) {
  auto info = ReadElfInfo(kInit);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->is_dynamic);
  auto deps = ResolveElfDependencies(kInit);
  ASSERT_TRUE(deps.ok());
  EXPECT_TRUE(deps->empty());
}

TEST(ElfDependenciesTest, BadFilesAreErrors) {
  EXPECT_FALSE(ReadElfInfo("/nonexistent").ok());
  const std::string text = TmpDir() + "/not-elf";
  std::ofstream(text) << "#!/bin/sh\n";
  auto r = ReadElfInfo(text);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not an ELF"), std::string::npos);
}

TEST(InitramfsTest, ParseIncludePair) {
  auto inc = ParseIncludePair("/host/a:b:/guest/c");
  ASSERT_TRUE(inc.ok());
  EXPECT_EQ(inc->host_path, "/host/a:b");
  EXPECT_EQ(inc->guest_path, "/guest/c");
  EXPECT_FALSE(ParseIncludePair("nocolon").ok());
  EXPECT_FALSE(ParseIncludePair(":/x").ok());
  EXPECT_FALSE(ParseIncludePair("/x:").ok());
  EXPECT_FALSE(ParseIncludePair("/x:relative").ok());
  EXPECT_FALSE(ParseIncludePair("/x:/a/../b").ok());
  EXPECT_FALSE(ParseIncludePair("/x:/").ok());
}

TEST(InitramfsTest, ConfigCarriesArgsAndRunEncoded) {
  InitramfsSpec spec;
  spec.scheduler_path = "/x";
  spec.scheduler_args = {"--mode=error", "two words"};
  spec.run_command = "echo a=b; exit 3";
  spec.scheduler_enable_timeout_ms = 1234;
  const std::string config = RenderInitConfig(spec);
  EXPECT_NE(config.find("scheduler=/ktvm/scheduler\n"), std::string::npos);
  EXPECT_NE(config.find("arg=--mode%3Derror\narg=two%20words\n"),
            std::string::npos)
      << config;
  EXPECT_NE(config.find("run=echo%20a%3Db;%20exit%203\n"), std::string::npos)
      << config;
  EXPECT_NE(config.find("enable_timeout_ms=1234\n"), std::string::npos);
}

TEST(InitramfsTest, PacksInitSchedulerLibrariesBusyboxAndIncludes) {
  const std::string include = TmpDir() + "/payload.txt";
  std::ofstream(include) << "payload";
  InitramfsSpec spec;
  spec.init_path = kInit;
  spec.scheduler_path = "/bin/true";  // dynamic: pulls libc and ld.so
  spec.run_command = "true";
  spec.includes = {{include, "/data/payload.txt"}};
  spec.compression = InitramfsCompression::kGzip;
  const std::string out = TmpDir() + "/initramfs.gz";
  ASSERT_TRUE(WriteInitramfs(spec, out).ok());
  const std::string listing =
      RunCapture("gzip -dc " + out + " | cpio -it --quiet 2>&1");
  for (const char* name : {"init\n", "ktvm/scheduler\n", "ktvm/config\n",
                           "data/payload.txt\n", "dev/console\n", "dev/ttyS1\n",
                           "libc.so.6\n", "ld-linux-x86-64.so.2\n"}) {
    EXPECT_NE(listing.find(name), std::string::npos)
        << name << " missing from:\n"
        << listing;
  }
  if (std::ifstream(std::string(kDefaultBusyboxPath)).good()) {
    EXPECT_NE(listing.find("bin/busybox\n"), std::string::npos) << listing;
    EXPECT_NE(listing.find("bin/sh\n"), std::string::npos) << listing;
  } else {
    std::printf("busybox-static not installed: not checked\n");
  }
}

TEST(InitramfsTest, ZstdOutputHasTheZstdMagic) {
  InitramfsSpec spec;
  spec.init_path = kInit;
  spec.include_busybox = false;
  auto image = BuildInitramfs(spec);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_GE(image->size(), 4u);
  EXPECT_EQ(image->substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
  const std::string out = TmpDir() + "/initramfs.zst";
  std::ofstream(out, std::ios::binary) << *image;
  const std::string listing =
      RunCapture("zstd -dc " + out + " 2>/dev/null | cpio -it --quiet 2>&1");
  if (listing.empty()) {
    std::printf("zstd CLI not available: archive contents not re-read\n");
  } else {
    EXPECT_NE(listing.find("init\n"), std::string::npos) << listing;
  }
}

TEST(InitramfsTest, MissingInputsAreClearErrors) {
  InitramfsSpec spec;
  EXPECT_FALSE(BuildInitramfs(spec).ok());  // no init
  spec.init_path = "/nonexistent/init";
  auto r = BuildInitramfs(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/init"), std::string::npos);
  spec.init_path = kInit;
  spec.scheduler_path = "/nonexistent/sched";
  EXPECT_FALSE(BuildInitramfs(spec).ok());
  spec.scheduler_path = "";
  spec.includes = {{"/nonexistent/file", "/x"}};
  EXPECT_FALSE(BuildInitramfs(spec).ok());
  spec.includes = {};
  spec.busybox_path = "/bin/true";  // dynamically linked
  r = BuildInitramfs(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("busybox-static"), std::string::npos);
}

TEST(InitramfsTest, InitMustBeAStaticElf) {
  InitramfsSpec spec;
  spec.init_path = "/etc/hostname";
  auto r = BuildInitramfs(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("init /etc/hostname is not an ELF file"),
            std::string::npos)
      << r.status();
  spec.init_path = "/bin/true";  // dynamically linked
  r = BuildInitramfs(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("is dynamically linked"),
            std::string::npos)
      << r.status();
}

// An include may not replace the init, the config or an earlier include.
TEST(InitramfsTest, IncludeOntoAnExistingPathIsAUsageError) {
  InitramfsSpec spec;
  spec.init_path = kInit;
  for (const char* guest : {"/init", "/ktvm/config", "/dev", "/dev/ttyS1"}) {
    spec.includes = {{"/etc/hostname", guest}};
    auto r = BuildInitramfs(spec);
    ASSERT_FALSE(r.ok()) << guest;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_NE(r.status().message().find("is already in the initramfs"),
              std::string::npos)
        << r.status();
  }
  spec.includes = {{"/etc/hostname", "/x"}, {"/etc/hosts", "/x"}};
  auto r = BuildInitramfs(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--include /etc/hosts:/x"),
            std::string::npos)
      << r.status();
  spec.includes = {{"/etc/hostname", "/x"}, {"/etc/hosts", "/y"}};
  EXPECT_TRUE(BuildInitramfs(spec).ok());
}

}  // namespace
}  // namespace ktvm::guest

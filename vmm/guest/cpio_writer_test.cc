// The archive is read back by GNU cpio, the reference reader for "newc".
#include "vmm/guest/cpio_writer.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

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

TEST(CpioWriterTest, GnuCpioReadsItBack) {
  CpioWriter w;
  ASSERT_TRUE(w.AddFile("/bin/hello", "hello world\n", 0755).ok());
  ASSERT_TRUE(
      w.AddFile("/etc/deep/nested/file", std::string(5, 'x'), 0644).ok());
  ASSERT_TRUE(w.AddSymlink("/bin/sh", "hello").ok());
  ASSERT_TRUE(w.AddCharDevice("/dev/console", 5, 1).ok());
  ASSERT_TRUE(w.AddDirectory("/empty").ok());
  const std::string archive = w.Finish();
  EXPECT_EQ(archive.size() % 4, 0u);
  EXPECT_EQ(archive.substr(0, 6), "070701");
  const std::string path = TmpDir() + "/test.cpio";
  std::ofstream(path, std::ios::binary) << archive;

  const std::string listing =
      RunCapture("cpio -itv --quiet < " + path + " 2>&1");
  for (const char* name : {"bin\n", "bin/hello", "etc/deep/nested/file",
                           "bin/sh -> hello", "dev/console", "empty"}) {
    EXPECT_NE(listing.find(name), std::string::npos)
        << name << " missing from:\n"
        << listing;
  }
  // Parents come before children, as the kernel's unpacker needs.
  EXPECT_LT(listing.find(" etc\n"), listing.find("etc/deep\n"));

  const std::string dir = TmpDir() + "/extract";
  mkdir(dir.c_str(), 0755);
  RunCapture("cd " + dir + " && cpio -id --quiet --no-absolute-filenames < " +
             path + " 2>&1");
  std::ifstream hello(dir + "/bin/hello");
  std::stringstream got;
  got << hello.rdbuf();
  EXPECT_EQ(got.str(), "hello world\n");
  struct stat st;
  ASSERT_EQ(stat((dir + "/bin/hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST(CpioWriterTest, RejectsBadPaths) {
  CpioWriter w;
  EXPECT_FALSE(w.AddFile("relative", "", 0644).ok());
  EXPECT_FALSE(w.AddFile("/a/../b", "", 0644).ok());
  EXPECT_FALSE(w.AddFile("/a//b", "", 0644).ok());
  EXPECT_FALSE(w.AddFile("/a/./b", "", 0644).ok());
  EXPECT_FALSE(w.AddFile("/trailing/", "", 0644).ok());
  EXPECT_FALSE(w.AddSymlink("/link", "").ok());
  ASSERT_TRUE(w.AddFile("/once", "", 0644).ok());
  EXPECT_FALSE(w.AddFile("/once", "", 0644).ok());
  EXPECT_TRUE(w.Contains("/once"));
}

}  // namespace
}  // namespace ktvm::guest

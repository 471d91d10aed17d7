// TempDir: a fresh test directory, removed again even when a test fails. Its name carries
// "volmig-test" and it holds an .owner file with the creating process's pid, so that what a
// crashed run leaves behind is found and removed by tests/cleanup-test-loops.sh. No test
// framework here: the fuzz targets use it too.
#pragma once

#include <string>

namespace volmig::test {

// A fresh directory under $VOLMIG_TEST_TMP or /var/tmp (a disk filesystem: tmpfs lacks some
// of the fallocate modes the engine relies on), removed recursively on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

}  // namespace volmig::test

#include "tests/support/temp_dir.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "copy/process.hpp"

namespace volmig::test {

TempDir::TempDir() {
    const char* base = std::getenv("VOLMIG_TEST_TMP");
    std::string templ = std::string(base ? base : "/var/tmp") + "/volmig-test.XXXXXX";
    if (!::mkdtemp(templ.data()))
        throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    path_ = templ;
    // Who owns it: tests/cleanup-test-loops.sh leaves the directories of live processes alone.
    std::ofstream(path_ + "/.owner") << ::getpid() << "\n";
}

TempDir::~TempDir() {
    (void)run_process({"rm", "-rf", "--one-file-system", path_});
}

}  // namespace volmig::test

// driver/deferred_unlink: a removed file is out of sight at once and unlinked by a thread; what
// a crash leaves under the hidden name is picked up again.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "driver/deferred_unlink.hpp"
#include "tests/support/temp_dir.hpp"

using volmig::DeferredUnlink;
using volmig::test::TempDir;

namespace {

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void make_file(const std::string& path, off_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "data", 4, size - 4) == 4);
    ::close(fd);
}

}  // namespace

TEST_CASE("deferred unlink: the file is gone under its name at once and gone for good once the thread ran") {
    TempDir dir;
    const std::string file = dir.file("volume-a");
    make_file(file, 8 << 20);
    DeferredUnlink unlinker;
    REQUIRE(unlinker.remove(file).ok());
    CHECK_FALSE(exists(file));
    unlinker.wait_idle();
    CHECK_FALSE(exists(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-a")));
}

TEST_CASE("deferred unlink: a missing file is a success, a path that cannot be renamed is an error naming it") {
    TempDir dir;
    DeferredUnlink unlinker;
    CHECK(unlinker.remove(dir.file("never-made")).ok());
    make_file(dir.file("plain"), 4096);
    auto refused = unlinker.remove(dir.file("plain") + "/below-a-file");  // ENOTDIR
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("below-a-file") != std::string::npos);
    CHECK(exists(dir.file("plain")));
}

TEST_CASE("deferred unlink: hidden files a crash left are unlinked when the directory is adopted again, others stay") {
    TempDir dir;
    make_file(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-x"), 4096);
    make_file(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-y"), 4096);
    make_file(dir.file("volume-z"), 4096);
    DeferredUnlink unlinker;
    CHECK(unlinker.adopt_leftovers(dir.path()) == 2);
    unlinker.wait_idle();
    CHECK_FALSE(exists(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-x")));
    CHECK_FALSE(exists(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-y")));
    CHECK(exists(dir.file("volume-z")));
}

TEST_CASE("deferred unlink: destruction finishes every queued unlink") {
    TempDir dir;
    auto unlinker = std::make_unique<DeferredUnlink>();
    for (int i = 0; i < 20; ++i) {
        make_file(dir.file("volume-" + std::to_string(i)), 1 << 20);
        REQUIRE(unlinker->remove(dir.file("volume-" + std::to_string(i))).ok());
    }
    unlinker.reset();
    for (int i = 0; i < 20; ++i) CHECK_FALSE(exists(dir.file(std::string(DeferredUnlink::kPrefix) + "volume-" + std::to_string(i))));
}

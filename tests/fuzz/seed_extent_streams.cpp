// Writes the seed corpus of fuzz_extent_stream: real streams from send_extent_stream() of small
// sources with known layouts (holes, data, zero blocks inside data, a short last block), each
// prefixed with the options byte fuzz_extent_stream reads. Run by hand when the format changes:
//   build/tests/fuzz/seed_extent_streams tests/fuzz/corpus/extent_stream
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "copy/extent_stream.hpp"
#include "tests/support/temp_dir.hpp"

using namespace volmig;

namespace {

struct Seed {
    const char* name;
    uint8_t
        options;  // see fuzz_extent_stream.cpp: verify, strategy, destination size, dirty, chunking
    uint64_t size;
    std::vector<std::pair<uint64_t, std::string>> writes;  // bytes written into the source
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::string tail7(7, 'z');
    const std::vector<Seed> seeds = {
        {"empty-volume", 0x01, 0, {}},
        {"all-hole-1MiB-full", 0x03, 1 << 20, {}},
        {"two-blocks-verified-sparse",
         0x01,
         1 << 20,
         {{0, std::string(512, 'a')}, {700 << 10, std::string(600, 'b')}}},
        {"odd-tail-dirty-discard", 0x2c, (1 << 20) + 512, {{1 << 20, std::string(512, 'c')}}},
        {"short-last-block-chunked", 0x51, (3 << 20) + 7, {{3 << 20, tail7}}},
        {"zero-block-inside-data-4MiB",
         0xdb,
         4 << 20,
         {{8192, std::string(512, 'd') + std::string(512, '\0') + std::string(512, 'e')}}},
    };
    test::TempDir dir;
    for (const Seed& seed : seeds) {
        const std::string path = dir.file(seed.name);
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(seed.size)) != 0) return 1;
        for (const auto& [offset, bytes] : seed.writes)
            if (::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) !=
                static_cast<ssize_t>(bytes.size()))
                return 1;
        ::close(fd);
        auto info = inspect_volume(path);
        auto extents = info ? discover_extents(*info) : Result<DiscoveredExtents>(info.error());
        if (!extents) {
            std::fprintf(stderr, "%s: %s\n", seed.name, extents.error().message.c_str());
            return 1;
        }
        std::string stream(1, static_cast<char>(seed.options));
        SendOptions options;
        options.block_size = 512;
        options.workers = 1;
        auto sent =
            send_extent_stream(*info, extents->map, options, [&](const char* data, size_t length) {
                stream.append(data, length);
                return success();
            });
        if (!sent) {
            std::fprintf(stderr, "%s: %s\n", seed.name, sent.error().message.c_str());
            return 1;
        }
        std::ofstream(std::string(argv[1]) + "/" + seed.name, std::ios::binary) << stream;
        std::printf("%s: %zu bytes, %llu records\n", seed.name, stream.size(),
                    static_cast<unsigned long long>(sent->records));
    }
    return 0;
}

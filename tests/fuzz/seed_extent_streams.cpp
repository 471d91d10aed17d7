// Writes the seed corpus of fuzz_extent_stream: real streams from send_extent_stream() of small
// sources with known layouts (holes, data, zero blocks inside data, a short last block), v1
// streams of the whole volume and v2 slices (resumed part-way, compressed), each prefixed with
// the two options bytes fuzz_extent_stream reads. Run by hand when the format changes:
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
    bool v2 = false;        // a slice on the 64 KiB grid instead of the whole volume
    StreamSlice slice{};
    bool compressed = false;  // zstd where it shrinks (options byte 1 says it was negotiated)
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
        {"v2-slice-of-1MiB", 0x01, 1 << 20, {{64 << 10, std::string(4096, 'f')}}, true, {0, 512 << 10, 0}},
        {"v2-last-slice-resumed-odd-tail",
         0x09,
         (1 << 20) + 512,
         {{640 << 10, std::string(512, 'g')}, {1 << 20, std::string(512, 'h')}},
         true,
         {512 << 10, (1 << 20) + 512, 576 << 10}},
        {"v2-compressed-text", 0x03, 1 << 20, {{0, std::string(200000, 'i') + "some text that repeats " + std::string(30000, 'j')}}, true,
         {0, 1 << 20, 0}, true},
        {"v2-compressed-and-raw-dirty-chunked",
         0x79,
         4 << 20,
         {{128 << 10, std::string(70000, 'k')}, {2 << 20, std::string(3000, 'l')}},
         true,
         {0, 4 << 20, 64 << 10},
         true},
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
        stream += static_cast<char>(seed.compressed ? 1 : 0);
        SendOptions options;
        options.block_size = 512;
        options.workers = 1;
        if (seed.v2) {
            options.checkpoint_bytes = 64 << 10;
            options.slice = seed.slice;
            options.compression = seed.compressed ? StreamCompression::zstd : StreamCompression::none;
        }
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
        std::printf("%s: %zu bytes, %llu records (%llu compressed)\n", seed.name, stream.size(),
                    static_cast<unsigned long long>(sent->records), static_cast<unsigned long long>(sent->compressed_records));
    }
    return 0;
}

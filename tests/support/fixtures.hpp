// Test fixtures: real temporary files and real loop devices, removed again even when a test
// fails (destructors run as a failed REQUIRE unwinds). Names carry "volmig-test" so that a
// crashed run's leftovers can be found and removed by tests/cleanup-test-loops.sh.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace volmig::test {

// A loop device over a file (optionally a window of it), detached by its own name on destruction.
class LoopDevice {
public:
    explicit LoopDevice(const std::string& file, uint64_t offset = 0, uint64_t size_limit = 0);
    ~LoopDevice();
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A mounted filesystem on a small loop-backed image (for ENOSPC and fstrim tests).
class SmallFilesystem {
public:
    SmallFilesystem(const TempDir& dir, uint64_t size, const std::string& fstype = "ext4");
    ~SmallFilesystem();
    const std::string& mount_point() const { return mount_point_; }

private:
    std::string image_;
    std::string mount_point_;
    std::unique_ptr<LoopDevice> loop_;
};

// Runs a shell command; REQUIREs exit status 0 and returns stdout.
std::string sh(const std::string& command);

void create_sparse_file(const std::string& path, uint64_t size);
// Writes deterministic non-zero pseudo-random bytes (never an all-zero 512-byte sector).
void write_random(const std::string& path, uint64_t offset, uint64_t length, uint32_t seed);
// Writes explicit zero bytes (allocating them: not a hole).
void write_zeros(const std::string& path, uint64_t offset, uint64_t length);
void write_pattern(const std::string& path, uint64_t offset, uint64_t length, unsigned char byte);
void write_bytes(const std::string& path, uint64_t offset, const std::vector<unsigned char>& bytes);

// Bytes [0, length) of a file or device.
std::vector<unsigned char> read_range(const std::string& path, uint64_t offset, uint64_t length);
// Index of the first differing byte in [0, length), or -1 when equal.
int64_t first_difference(const std::string& a, const std::string& b, uint64_t length);
// Number of 1 MiB chunks of `path` in [0, length) holding any non-zero byte.
uint64_t nonzero_mib(const std::string& path, uint64_t length);

uint64_t allocated_bytes(const std::string& path);  // st_blocks * 512
bool exists(const std::string& path);
bool contains(const std::string& haystack, const std::string& needle);
bool any_contains(const std::vector<std::string>& lines, const std::string& needle);
// The bytes write_random(path, offset, length, seed) writes, computed in a scratch file of `dir`.
std::vector<unsigned char> random_bytes(const TempDir& dir, uint64_t offset, uint64_t length, uint32_t seed);
uint64_t file_size(const std::string& path);

// A thin source volume with a known layout: data extents, allocated zero extents and holes.
struct ThinLayout {
    uint64_t size = 0;
    std::vector<std::pair<uint64_t, uint64_t>> data;   // random non-zero bytes
    std::vector<std::pair<uint64_t, uint64_t>> zeros;  // written zero bytes (allocated)
    uint64_t data_bytes() const;
    uint64_t extent_count() const { return data.size(); }
};
// 64 MiB: 7 data extents of varied size and alignment, 3 allocated-zero extents, holes between.
ThinLayout standard_thin_layout();
void build_thin_source(const std::string& path, const ThinLayout& layout, uint32_t seed = 1);

// Polls `done` (every 10 ms) until it holds or `seconds` pass; returns whether it held.
template <typename Pred>
bool wait_until(Pred done, int seconds = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace volmig::test

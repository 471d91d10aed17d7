#include "tests/support/fixtures.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <doctest/doctest.h>

#include "copy/process.hpp"

namespace volmig::test {

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

int open_or_fail(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    return fd;
}

void pwrite_all(int fd, const unsigned char* data, uint64_t length, uint64_t offset) {
    uint64_t done = 0;
    while (done < length) {
        const ssize_t n = ::pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
        if (n <= 0) throw std::runtime_error(std::string("pwrite: ") + std::strerror(errno));
        done += static_cast<uint64_t>(n);
    }
}

}  // namespace

std::string sh(const std::string& command) {
    auto r = run_process({"/bin/sh", "-c", command});
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    INFO("command: " << command << "\nstderr: " << r->err);
    REQUIRE(r->exit_code == 0);
    return r->out;
}

LoopDevice::LoopDevice(const std::string& file, uint64_t offset, uint64_t size_limit) {
    std::vector<std::string> argv{"losetup", "--find", "--show"};
    if (offset) argv.insert(argv.end(), {"--offset", std::to_string(offset)});
    if (size_limit) argv.insert(argv.end(), {"--sizelimit", std::to_string(size_limit)});
    argv.push_back(file);
    auto r = run_checked(argv);
    if (!r) throw std::runtime_error("losetup failed (integration tests need root and loop devices): " + r.error().message);
    path_ = trim(r->out);
}

LoopDevice::~LoopDevice() {
    if (!path_.empty()) (void)run_process({"losetup", "-d", path_});
}

SmallFilesystem::SmallFilesystem(const TempDir& dir, uint64_t size, const std::string& fstype) {
    image_ = dir.file("fs-" + fstype + ".img");
    mount_point_ = dir.file("mnt-" + fstype);
    create_sparse_file(image_, size);
    ::mkdir(mount_point_.c_str(), 0755);
    loop_ = std::make_unique<LoopDevice>(image_);
    sh("mkfs." + fstype + " -q " + (fstype == "ext4" ? "-F " : "-f ") + loop_->path() + " >/dev/null 2>&1");
    sh("mount " + loop_->path() + " " + mount_point_);
}

SmallFilesystem::~SmallFilesystem() {
    (void)run_process({"umount", mount_point_});
    loop_.reset();
}

void create_sparse_file(const std::string& path, uint64_t size) {
    const int fd = open_or_fail(path, O_WRONLY | O_CREAT | O_TRUNC);
    const int rc = ::ftruncate(fd, static_cast<off_t>(size));
    ::close(fd);
    if (rc != 0) throw std::runtime_error("ftruncate " + path);
}

void write_random(const std::string& path, uint64_t offset, uint64_t length, uint32_t seed) {
    std::vector<unsigned char> buf(length);
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(seed) << 32) ^ offset;
    for (uint64_t i = 0; i < length; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = static_cast<unsigned char>(x >> 56);
        if (i % 512 == 0) buf[i] |= 1;  // no sector is all zeros
    }
    write_bytes(path, offset, buf);
}

void write_zeros(const std::string& path, uint64_t offset, uint64_t length) { write_pattern(path, offset, length, 0); }

void write_pattern(const std::string& path, uint64_t offset, uint64_t length, unsigned char byte) {
    write_bytes(path, offset, std::vector<unsigned char>(length, byte));
}

void write_bytes(const std::string& path, uint64_t offset, const std::vector<unsigned char>& bytes) {
    const int fd = open_or_fail(path, O_WRONLY);
    pwrite_all(fd, bytes.data(), bytes.size(), offset);
    ::fsync(fd);
    ::close(fd);
}

std::vector<unsigned char> read_range(const std::string& path, uint64_t offset, uint64_t length) {
    const int fd = open_or_fail(path, O_RDONLY);
    std::vector<unsigned char> buf(length);
    uint64_t done = 0;
    while (done < length) {
        const ssize_t n = ::pread(fd, buf.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n <= 0) break;
        done += static_cast<uint64_t>(n);
    }
    ::close(fd);
    buf.resize(done);
    return buf;
}

int64_t first_difference(const std::string& a, const std::string& b, uint64_t length) {
    const uint64_t chunk = 4 << 20;
    for (uint64_t off = 0; off < length; off += chunk) {
        const uint64_t n = std::min(chunk, length - off);
        auto x = read_range(a, off, n), y = read_range(b, off, n);
        if (x.size() != n || y.size() != n) return static_cast<int64_t>(off + std::min(x.size(), y.size()));
        for (uint64_t i = 0; i < n; ++i)
            if (x[i] != y[i]) return static_cast<int64_t>(off + i);
    }
    return -1;
}

uint64_t nonzero_mib(const std::string& path, uint64_t length) {
    uint64_t count = 0;
    for (uint64_t off = 0; off < length; off += 1 << 20) {
        auto buf = read_range(path, off, std::min<uint64_t>(1 << 20, length - off));
        for (unsigned char c : buf)
            if (c) {
                ++count;
                break;
            }
    }
    return count;
}

uint64_t allocated_bytes(const std::string& path) {
    ::sync();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
    for (const auto& l : lines)
        if (contains(l, needle)) return true;
    return false;
}

std::vector<unsigned char> random_bytes(const TempDir& dir, uint64_t offset, uint64_t length, uint32_t seed) {
    const std::string scratch = dir.file("expected-" + std::to_string(seed) + "-" + std::to_string(offset));
    create_sparse_file(scratch, offset + length);
    write_random(scratch, offset, length, seed);
    auto bytes = read_range(scratch, offset, length);
    ::unlink(scratch.c_str());
    return bytes;
}

uint64_t file_size(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
    return static_cast<uint64_t>(st.st_size);
}

uint64_t ThinLayout::data_bytes() const {
    uint64_t total = 0;
    for (auto& d : data) total += d.second;
    return total;
}

ThinLayout standard_thin_layout() {
    constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;
    ThinLayout l;
    l.size = 64 * MiB;
    l.data = {{0, 1 * MiB},                  // at the very start
              {3 * MiB + 4 * KiB, 12 * KiB}, // small, 4K-aligned but not chunk-aligned
              {5 * MiB, 2 * MiB + 64 * KiB},
              {10 * MiB + 60 * KiB, 8 * KiB},  // straddles a 64 KiB checksum chunk edge
              {20 * MiB, 4 * MiB},
              {40 * MiB + 512 * KiB, 1 * MiB},
              {64 * MiB - 128 * KiB, 128 * KiB}};  // at the very end
    l.zeros = {{8 * MiB, 1 * MiB}, {30 * MiB, 2 * MiB}, {50 * MiB + 4 * KiB, 256 * KiB}};
    return l;
}

void build_thin_source(const std::string& path, const ThinLayout& layout, uint32_t seed) {
    create_sparse_file(path, layout.size);
    for (auto& [off, len] : layout.data) write_random(path, off, len, seed);
    for (auto& [off, len] : layout.zeros) write_zeros(path, off, len);
}

}  // namespace volmig::test

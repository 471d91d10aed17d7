// Fuzz target: the extent stream receiver and its record validator (copy/extent_stream.hpp,
// receive_extent_stream) on a real destination file in the run's test directory.
//
// Feeds: byte 0 chooses the options (bit 0 verify, bits 1-2 the strategy, bits 3-4 the
// destination's size: 1 MiB, 1 MiB + 512, 3 MiB + 7 or 4 MiB, bit 5 a dirty destination
// filled with 0xA5 instead of a hole, bits 6-7 how many bytes the source hands over per call);
// the rest is the stream, exactly as a peer would send it. One writer thread.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - the destination file's size never changes, and not one byte past the stream's volume
//    size is touched (the tail keeps its canary, or stays a hole);
//  - the receiver accepts exactly the streams that a reference reading of the format written
//    in extent_stream.hpp calls valid (DATA and ZERO records tiling [0, size) in order, END at
//    size, nothing after END); a valid stream fails only as a verification mismatch, and only
//    when END's checksum is not the content's;
//  - an accepted stream left the destination holding its content: DATA bytes where DATA
//    records were, zeros under ZERO records (or the old bytes under a sparse copy), and the
//    counters add up (bytes written = DATA payload, skipped + zeroed + released = ZERO bytes).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "copy/checksum.hpp"
#include "copy/extent_stream.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/support/temp_dir.hpp"

using namespace volmig;
using volmig::fuzz::check;

namespace {

constexpr uint64_t kDestinationSizes[4] = {1ull << 20, (1ull << 20) + 512, (3ull << 20) + 7,
                                           4ull << 20};
constexpr unsigned char kCanary = 0xA5;

uint64_t get_le(const std::string& s, size_t at, unsigned bytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i)
        v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

// The stream as the format in extent_stream.hpp defines it, read independently of the receiver.
struct Reading {
    bool header_ok = false;  // a complete header the destination can take
    uint64_t size = 0;
    bool valid = false;
    std::vector<std::pair<uint64_t, std::string>> data;  // DATA records: offset, payload
    uint64_t zero_bytes = 0, data_bytes = 0;
    std::string checksum;
};

Reading read_stream(const std::string& s, uint64_t capacity) {
    Reading r;
    if (s.size() < kStreamHeaderSize || std::memcmp(s.data(), kStreamMagic, 8) != 0) return r;
    const uint64_t size = get_le(s, 8, 8), block = get_le(s, 16, 4), flags = get_le(s, 20, 4);
    if (size > capacity || block < 512 || block > (16u << 20) || (block & (block - 1)) ||
        flags != 0)
        return r;
    r.header_ok = true;
    r.size = size;
    size_t at = kStreamHeaderSize;
    uint64_t expected = 0;
    while (s.size() - at >= kRecordHeaderSize) {
        const uint64_t kind = get_le(s, at, 4), zero = get_le(s, at + 4, 4),
                       offset = get_le(s, at + 8, 8), length = get_le(s, at + 16, 8);
        at += kRecordHeaderSize;
        if (zero != 0) return r;
        if (kind == kRecordEnd) {
            if (offset != size || expected != size || length == 0 || length > 128 ||
                s.size() - at != length)
                return r;
            r.checksum = s.substr(at, length);
            r.valid = true;
            return r;
        }
        if ((kind != kRecordData && kind != kRecordZero) || offset != expected || length == 0 ||
            length > size - offset)
            return r;
        if (kind == kRecordData) {
            if (length > kMaxDataRecord || s.size() - at < length) return r;
            r.data.emplace_back(offset, s.substr(at, length));
            r.data_bytes += length;
            at += length;
        } else {
            r.zero_bytes += length;
        }
        expected = offset + length;
    }
    return r;  // ended without END (or inside a record header)
}

// One destination file per process, reset before every input.
struct Destination {
    test::TempDir dir;
    std::string path = dir.file("destination");
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ~Destination() { ::close(fd); }
};

Destination& destination() {
    static Destination d;
    check(d.fd >= 0, "the destination file can be created");
    return d;
}

const std::vector<char>& canary_block() {
    static const std::vector<char> block(1 << 20, static_cast<char>(kCanary));
    return block;
}

void fill_with_canary(int fd, uint64_t length) {
    for (uint64_t done = 0; done < length;) {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(canary_block().size(), length - done));
        check(::pwrite(fd, canary_block().data(), n, static_cast<off_t>(done)) ==
                  static_cast<ssize_t>(n),
              "the destination can be filled");
        done += n;
    }
}

// memcmp, not a loop: the harness's own loops are instrumented and would dominate the run time.
bool all_canary(const std::vector<char>& bytes) {
    for (size_t done = 0; done < bytes.size();) {
        const size_t n = std::min(canary_block().size(), bytes.size() - done);
        if (std::memcmp(bytes.data() + done, canary_block().data(), n) != 0) return false;
        done += n;
    }
    return true;
}

std::vector<char> read_back(int fd, uint64_t offset, uint64_t length) {
    std::vector<char> out(length);
    check(
        ::pread(fd, out.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length),
        "the destination reads back");
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t length) {
    if (length == 0) return 0;
    const uint8_t options = bytes[0];
    const std::string stream(reinterpret_cast<const char*>(bytes + 1), length - 1);
    const uint64_t capacity = kDestinationSizes[(options >> 3) & 3];
    const bool dirty = options & 0x20;
    const size_t chunk =
        (options >> 6) == 0 ? SIZE_MAX : size_t{1} << (4 * (options >> 6));  // 16, 256, 4096 bytes

    Destination& dst = destination();
    check(::ftruncate(dst.fd, 0) == 0 && ::ftruncate(dst.fd, static_cast<off_t>(capacity)) == 0,
          "the destination can be reset");
    if (dirty) fill_with_canary(dst.fd, capacity);
    auto info = inspect_volume(dst.path);
    check(info.ok(), "the destination can be inspected");

    ReceiveOptions opt;
    opt.verify = options & 1;
    opt.strategy = std::array<Strategy, 3>{Strategy::sparse, Strategy::full,
                                           Strategy::full_then_discard}[((options >> 1) & 3) % 3];
    opt.writers = 1;
    size_t at = 0;
    auto result =
        receive_extent_stream(*info, opt, [&](char* buffer, size_t capacity_) -> Result<size_t> {
            const size_t n = std::min({capacity_, chunk, stream.size() - at});
            std::memcpy(buffer, stream.data() + at, n);
            at += n;
            return n;
        });

    struct stat st {};
    check(::fstat(dst.fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == capacity,
          "the destination's size never changes");
    const Reading reading = read_stream(stream, capacity);
    const uint64_t end = reading.header_ok
                             ? reading.size
                             : 0;  // without a usable header nothing may be written at all
    if (dirty) {
        check(all_canary(read_back(dst.fd, end, capacity - end)),
              "nothing past the stream's volume size is written");
    } else {
        // SEEK_DATA sees whole blocks: the rest of the volume's last block is read instead.
        const uint64_t block_end = std::min(capacity, (end + 4095) / 4096 * 4096);
        const auto rest = read_back(dst.fd, end, block_end - end);
        const off_t data = ::lseek(dst.fd, static_cast<off_t>(block_end), SEEK_DATA);
        check(std::count(rest.begin(), rest.end(), 0) == static_cast<long>(rest.size()) &&
                  data < 0 && errno == ENXIO,
              "nothing past the stream's volume size is written");
    }

    if (!reading.valid) {
        check(!result.ok(), "an invalid stream is refused");
        check(result.error().kind == ErrorKind::invalid,
              "an invalid stream is refused as invalid: " + result.error().message);
        return 0;
    }
    // The content the stream describes, on this destination.
    std::vector<char> expected(reading.size, 0);
    if (dirty && opt.strategy == Strategy::sparse && !expected.empty())  // data() of an empty vector may be null
        std::memset(expected.data(), kCanary, expected.size());
    for (const auto& [offset, payload] : reading.data)
        std::memcpy(expected.data() + offset, payload.data(), payload.size());
    if (opt.verify) {
        ContentChecksum sum;
        sum.add(0, expected.data(), expected.size());
        if (sum.finish(reading.size) != reading.checksum) {
            check(!result.ok() && result.error().kind == ErrorKind::mismatch,
                  "a stream whose END does not match its content fails verification");
            return 0;
        }
    }
    check(result.ok(),
          "a valid stream is accepted: " + (result.ok() ? std::string() : result.error().message));
    check(result->volume_size == reading.size && result->source_checksum == reading.checksum,
          "the receiver reports the stream's size and END");
    check(result->bytes_written == reading.data_bytes, "bytes written = the DATA payload");
    check(
        result->bytes_skipped + result->bytes_zeroed + result->bytes_released == reading.zero_bytes,
        "skipped + zeroed + released = the ZERO bytes");
    check(read_back(dst.fd, 0, reading.size) == expected,
          "the destination holds the stream's content");
    return 0;
}

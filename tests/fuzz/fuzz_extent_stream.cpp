// Fuzz target: the extent stream receiver and its record validator (copy/extent_stream.hpp,
// receive_extent_stream) on a real destination file in the run's test directory.
//
// Feeds: byte 0 chooses the options (bit 0 verify, bits 1-2 the strategy, bits 3-4 the
// destination's size: 1 MiB, 1 MiB + 512, 3 MiB + 7 or 4 MiB, bit 5 a dirty destination
// filled with 0xA5 instead of a hole, bits 6-7 how many bytes the source hands over per call);
// byte 1 more options (bit 0: compression was negotiated, so ZDATA records may come); the rest
// is the stream, exactly as a peer would send it: v1 (the whole volume) or v2 (a slice, on a
// checkpoint grid of 64 KiB here). One writer thread.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - the destination file's size never changes, and not one byte past the stream's volume
//    size is touched (the tail keeps its canary, or stays a hole);
//  - nothing outside the stream's slice [from, end) is written (v1: [0, size));
//  - the receiver accepts exactly the streams that a reference reading of the format written
//    in extent_stream.hpp calls valid (DATA, ZERO and ZDATA records tiling [from, end) in order,
//    END at end, nothing after END, each ZDATA one zstd frame of exactly its length); a valid
//    stream fails only as a verification mismatch, and only when END's checksum is not the
//    content's (v2: the partial sum of [from, end));
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
#include <optional>
#include <vector>

#include <zstd.h>

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
constexpr uint64_t kGrid = 64 << 10;  // the checkpoint grid the receiver is given

uint64_t get_le(const std::string& s, size_t at, unsigned bytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i)
        v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

// The stream as the format in extent_stream.hpp defines it, read independently of the receiver.
struct Reading {
    bool header_ok = false;  // a complete header the destination can take
    unsigned version = 1;
    uint64_t size = 0;
    uint64_t from = 0, end = 0;  // what the stream may write
    bool valid = false;
    std::vector<std::pair<uint64_t, std::string>> data;  // DATA records: offset, payload
    uint64_t zero_bytes = 0, data_bytes = 0;
    std::string checksum;
};

// The bytes of one zstd frame of exactly `length` bytes, or nothing.
std::optional<std::string> unzstd(const std::string& frame, uint64_t length) {
    if (ZSTD_getFrameContentSize(frame.data(), frame.size()) != length) return std::nullopt;
    if (ZSTD_findFrameCompressedSize(frame.data(), frame.size()) != frame.size()) return std::nullopt;
    std::string out(length, '\0');
    const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
    if (ZSTD_isError(n) || n != length) return std::nullopt;
    return out;
}

Reading read_stream(const std::string& s, uint64_t capacity, bool compression) {
    Reading r;
    if (s.size() < kStreamHeaderSize) return r;
    const bool v2 = std::memcmp(s.data(), kStreamMagicV2, 8) == 0;
    if (!v2 && std::memcmp(s.data(), kStreamMagic, 8) != 0) return r;
    if (v2 && s.size() < kStreamHeaderSizeV2) return r;
    const uint64_t size = get_le(s, 8, 8), block = get_le(s, 16, 4), flags = get_le(s, 20, 4);
    if (size > capacity || block < 512 || block > (16u << 20) || (block & (block - 1)) ||
        (v2 ? (flags & ~uint64_t{kStreamFlagCompressed}) != 0 || (flags && !compression) : flags != 0) ||
        kGrid % block != 0)
        return r;
    uint64_t start = 0, end = size, from = 0;
    if (v2) {
        start = get_le(s, 24, 8), end = get_le(s, 32, 8), from = get_le(s, 40, 8);
        const bool on_grid = start < end && end <= size && start <= from && from <= end && start % kGrid == 0 &&
                             (end % kGrid == 0 || end == size) && (from % kGrid == 0 || from == end);
        if (!on_grid) return r;
    }
    r.header_ok = true;
    r.version = v2 ? 2 : 1;
    r.size = size;
    r.from = from;
    r.end = end;
    size_t at = v2 ? kStreamHeaderSizeV2 : kStreamHeaderSize;
    uint64_t expected = from;
    while (s.size() - at >= kRecordHeaderSize) {
        const uint64_t kind = get_le(s, at, 4), aux = get_le(s, at + 4, 4),
                       offset = get_le(s, at + 8, 8), length = get_le(s, at + 16, 8);
        at += kRecordHeaderSize;
        if (aux != 0 && kind != kRecordZstdData) return r;
        if (kind == kRecordEnd) {
            if (offset != end || expected != end || length == 0 || length > 128 ||
                s.size() - at != length)
                return r;
            r.checksum = s.substr(at, length);
            r.valid = true;
            return r;
        }
        const bool zstd = kind == kRecordZstdData && (flags & kStreamFlagCompressed);
        if ((kind != kRecordData && kind != kRecordZero && !zstd) || offset != expected || length == 0 ||
            length > end - offset)
            return r;
        if (kind == kRecordData) {
            if (length > kMaxDataRecord || s.size() - at < length) return r;
            r.data.emplace_back(offset, s.substr(at, length));
            r.data_bytes += length;
            at += length;
        } else if (zstd) {
            if (length > kMaxDataRecord || aux == 0 || aux >= length || s.size() - at < aux) return r;
            auto plain = unzstd(s.substr(at, aux), length);
            if (!plain) return r;
            r.data.emplace_back(offset, *plain);
            r.data_bytes += length;
            at += aux;
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

// No byte of [a, b) was written: the canary is intact, or it is still a hole.
void check_untouched(int fd, bool dirty, uint64_t a, uint64_t b, const char* what) {
    if (a >= b) return;
    if (dirty) {
        check(all_canary(read_back(fd, a, b - a)), what);
        return;
    }
    // SEEK_DATA sees whole blocks: the rest of a partly written block is read instead.
    const uint64_t first = std::min(b, (a + 4095) / 4096 * 4096), last = b / 4096 * 4096;
    const auto head = read_back(fd, a, first - a);
    check(std::count(head.begin(), head.end(), 0) == static_cast<long>(head.size()), what);
    if (first < last) {
        const off_t data = ::lseek(fd, static_cast<off_t>(first), SEEK_DATA);
        check((data < 0 && errno == ENXIO) || static_cast<uint64_t>(data) >= last, what);
    }
    if (std::max(first, last) < b) {
        const auto tail = read_back(fd, std::max(first, last), b - std::max(first, last));
        check(std::count(tail.begin(), tail.end(), 0) == static_cast<long>(tail.size()), what);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t length) {
    if (length < 2) return 0;
    const uint8_t options = bytes[0];
    const bool compression = bytes[1] & 1;
    const std::string stream(reinterpret_cast<const char*>(bytes + 2), length - 2);
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
    opt.checkpoint_bytes = kGrid;
    opt.allow_compressed = compression;
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
    const Reading reading = read_stream(stream, capacity, compression);
    // Without a usable header nothing may be written at all.
    const uint64_t from = reading.header_ok ? reading.from : 0, end = reading.header_ok ? reading.end : 0;
    check_untouched(dst.fd, dirty, 0, from, "nothing before the stream's slice is written");
    check_untouched(dst.fd, dirty, end, capacity, "nothing past the stream's slice (or volume) is written");

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
        sum.add(reading.from, expected.data() + reading.from, reading.end - reading.from);
        const std::string held = reading.version == 2 ? sum.partial() : sum.finish(reading.size);
        if (held != reading.checksum) {
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
    const auto held = read_back(dst.fd, reading.from, reading.end - reading.from);
    check(std::equal(held.begin(), held.end(), expected.begin() + static_cast<long>(reading.from)),
          "the destination holds the stream's content");
    return 0;
}

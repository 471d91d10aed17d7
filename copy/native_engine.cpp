// The native engine: N workers take work items from a cursor over the source's extents, read
// the data (never the holes), classify blocks as data or zero, write data (O_DIRECT where it
// can) and zero, release or skip the zero ranges as the strategy says.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "copy/checksum.hpp"
#include "copy/destination.hpp"
#include "copy/engine.hpp"
#include "copy/fd.hpp"
#include "copy/unit_io.hpp"
#include "copy/zero_detect.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

namespace {

constexpr uint64_t kMaxHoleItem = 256ull << 20;

// Per-worker tallies, summed at the end (no shared counters on the hot path).
struct Tally {
    ZeroTally zeros;
    uint64_t read = 0, written = 0;
    ContentChecksum checksum;
};

}  // namespace

Result<EngineResult> run_native_engine(const EngineJob& job) {
    const CopyOptions& opt = job.options;
    EngineResult result;

    const bool source_direct = opt.io == IoMode::direct || (opt.io == IoMode::automatic && job.source.kind == VolumeKind::block_device);
    auto reader = UnitReader::open(job.source, job.extents, source_direct);
    if (!reader) return reader.error().with_kind(ErrorKind::refused);
    if (source_direct && !reader->direct()) {
        if (opt.io == IoMode::direct)
            return Error{"cannot open source " + job.source.path + " with O_DIRECT; run without --direct", ErrorKind::refused};
        result.warnings.push_back("source " + job.source.path + " read through the page cache: O_DIRECT not available");
    }
    auto writer = DestinationWriter::open(job.destination, opt.io, opt.block_size, result.warnings);
    if (!writer) return writer.take_error();
    DestinationWriter& dst = **writer;

    std::mutex log_mutex;
    RangeZeroer zeroer(
        dst.fd(), dst.target(),
        [&](const std::string& line) {
            std::lock_guard<std::mutex> lock(log_mutex);
            result.warnings.push_back(line);
            if (opt.log) opt.log(line);
        },
        dst.base());
    if (!dst.bypass_note().empty()) result.warnings.push_back(dst.bypass_note());

    const uint64_t grid = std::max<uint64_t>(kChecksumChunk, opt.block_size);
    WorkCursor cursor(job.extents, grid, std::max<uint64_t>(opt.request_size, grid), kMaxHoleItem);
    RateLimiter limiter(opt.rate_limit, opt.shared_rate);
    ProgressMeter progress(job.extents.data_bytes(), opt.on_progress, opt.progress_interval);
    FirstError failure;
    std::vector<Tally> tallies(opt.workers);
    const size_t buffer_size = static_cast<size_t>(std::max<uint64_t>(opt.request_size, grid));

    run_workers(opt.workers, [&](unsigned index) {
        Tally& tally = tallies[index];
        ZeroBatch zeros(job.strategy, zeroer, tally.zeros);
        std::unique_ptr<AlignedBuffer> buffer;
        std::vector<BlockRun> runs;
        WorkItem item, previous_write;
        auto fail = [&](Error e) { failure.set(std::move(e)); };
        while (!failure.failed()) {
            if (opt.cancel && opt.cancel->load()) {
                fail(Error{"copy cancelled at the operator's request", ECANCELED, ErrorKind::cancelled});
                break;
            }
            if (!cursor.next(item)) break;
            if (item.hole) {
                Status s = zeros.add(item.offset, item.length);
                if (!s.ok()) fail(s.error());
                continue;
            }
            if (!buffer) buffer = std::make_unique<AlignedBuffer>(buffer_size);
            char* buf = buffer->data();
            limiter.acquire(item.length, failure.stop_flag());
            auto got = reader->fill(item, buf);
            if (!got) {
                fail(got.take_error());
                break;
            }
            tally.read += *got;
            progress.add(*got);
            if (opt.verify) tally.checksum.add(item.offset, buf, item.length);
            find_block_runs(buf, item.length, opt.block_size, runs);
            for (const BlockRun& run : runs) {
                // Data and zero ranges never overlap, so their order does not matter.
                Status s = run.zero ? zeros.add(item.offset + run.offset, run.length)
                                    : dst.write(item.offset + run.offset, buf + run.offset, run.length);
                if (!s.ok()) {
                    fail(s.error());
                    break;
                }
                if (!run.zero) tally.written += run.length;
            }
            dst.write_behind(item.offset, item.length, previous_write);
        }
        if (!failure.failed()) {
            Status s = zeros.flush();
            if (!s.ok()) fail(s.error());
        }
    });
    progress.finish();
    if (failure.failed()) return failure.take();

    Status synced = dst.sync();
    if (!synced.ok()) return synced.error();

    ContentChecksum sum;
    for (const Tally& t : tallies) {
        result.bytes_read += t.read;
        result.bytes_written += t.written;
        result.bytes_skipped += t.zeros.skipped;
        result.bytes_zeroed += t.zeros.zeroed;
        result.bytes_released += t.zeros.released;
        sum.merge(t.checksum);
    }
    if (opt.verify) result.source_checksum = sum.finish(job.source.size);
    result.zero_method = zeroer.method_used(job.strategy == Strategy::full_then_discard ? ZeroIntent::release : ZeroIntent::keep_allocated);
    result.source_direct = reader->direct();
    result.destination_direct = dst.direct();
    return result;
}

}  // namespace volmig

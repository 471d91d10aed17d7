// The dd engine: Cinder's own command lines, run as external processes, for parity with what
// deployed Cinder does and as the baseline the native engine is measured against.
//
//   O_DIRECT probes:  dd count=0 if=SRC of=DST iflag=direct   /   ... oflag=direct
//   copy:             dd if=SRC of=DST count=SIZE bs=1M iflag=count_bytes[,direct] [oflag=direct] [conv=sparse]
//   full+discard:     the destination range is first released so that it reads as zeros
//                     (fallocate --punch-hole, or blkdiscard --zeroout where punching is not
//                     supported), then copied with conv=sparse.
// On a regular-file destination conv=notrunc is added to every dd line (Cinder only writes
// block devices, where truncation cannot happen); an existing volume file is never truncated.

#include <cctype>
#include <chrono>
#include <string>
#include <vector>

#include "copy/engine.hpp"
#include "copy/process.hpp"
#include "copy/unit_io.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

namespace {

constexpr auto kDdTimeout = std::chrono::hours(48);

std::vector<std::string> dd_line(const std::string& src, const std::string& dst, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{"dd", "if=" + src, "of=" + dst};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

bool probe_direct(const EngineJob& job, const std::string& flag, const std::vector<std::string>& notrunc) {
    std::vector<std::string> extra{"count=0", flag};
    extra.insert(extra.end(), notrunc.begin(), notrunc.end());
    auto r = run_process(dd_line(job.source.path, job.destination.path, extra), {std::chrono::seconds(60)});
    return r && r->exit_code == 0;
}

// Parses the byte counts dd prints with status=progress ("123 bytes (...) copied, ...").
class DdProgressParser {
public:
    explicit DdProgressParser(ProgressMeter& meter) : meter_(meter) {}
    void feed(std::string_view chunk) {
        for (char c : chunk) {
            if (c == '\r' || c == '\n') {
                line_done();
                continue;
            }
            line_ += c;
        }
    }

private:
    void line_done() {
        size_t i = 0;
        uint64_t bytes = 0;
        while (i < line_.size() && std::isdigit(static_cast<unsigned char>(line_[i]))) bytes = bytes * 10 + static_cast<uint64_t>(line_[i++] - '0');
        if (i > 0 && line_.compare(i, 6, " bytes") == 0 && bytes > reported_) {
            meter_.add(bytes - reported_);
            reported_ = bytes;
        }
        line_.clear();
    }
    ProgressMeter& meter_;
    std::string line_;
    uint64_t reported_ = 0;
};

}  // namespace

Result<EngineResult> run_dd_engine(const EngineJob& job) {
    const CopyOptions& opt = job.options;
    if (opt.rate_limit || (opt.shared_rate && opt.shared_rate->limit()))
        return Error{"--rate-limit is only supported by the native engine"};
    EngineResult result;
    const uint64_t size = job.source.size;
    const bool file_dst = job.destination.kind == VolumeKind::regular_file;
    const std::vector<std::string> notrunc = file_dst ? std::vector<std::string>{"conv=notrunc"} : std::vector<std::string>{};

    // Cinder's probes decide O_DIRECT; our IoMode can only turn it off, or insist on it.
    bool idirect = opt.io != IoMode::buffered && probe_direct(job, "iflag=direct", notrunc);
    bool odirect = opt.io != IoMode::buffered && probe_direct(job, "oflag=direct", notrunc);
    if (opt.io == IoMode::direct && !(idirect && odirect))
        return Error{"dd cannot use O_DIRECT on " + std::string(idirect ? job.destination.path : job.source.path) + "; run without --direct"};

    ProcessOptions popt;
    popt.timeout = kDdTimeout;
    popt.cancel = opt.cancel;

    if (job.strategy == Strategy::full_then_discard) {
        std::string how;
        const bool punch = RangeZeroer::probe_release(job.destination, &how);
        std::vector<std::string> release =
            punch ? std::vector<std::string>{"fallocate", "--punch-hole", "--offset", "0", "--length", std::to_string(size), job.destination.path}
                  : std::vector<std::string>{"blkdiscard", "--zeroout", "--offset", "0", "--length", std::to_string(size), job.destination.path};
        if (!punch && file_dst) release = {"fallocate", "--zero-range", "--keep-size", "--offset", "0", "--length", std::to_string(size), job.destination.path};
        auto r = run_checked(release, popt);
        if (!r) return Error{"releasing " + job.destination.path + " before the copy failed: " + r.error().message};
        result.zero_method = command_line(release);
        result.bytes_released = size;  // all of it, before the sparse copy wrote the data back
    }

    std::vector<std::string> extra{"count=" + std::to_string(size), "bs=1M", idirect ? "iflag=count_bytes,direct" : "iflag=count_bytes"};
    if (odirect) extra.push_back("oflag=direct");
    std::string conv = job.strategy == Strategy::full ? "" : "sparse";
    if (file_dst) conv += conv.empty() ? "notrunc" : ",notrunc";
    if (!conv.empty()) extra.push_back("conv=" + conv);
    extra.push_back("status=progress");

    ProgressMeter meter(size, opt.on_progress, opt.progress_interval);
    DdProgressParser parser(meter);
    popt.on_stderr = [&](std::string_view chunk) { parser.feed(chunk); };
    auto copied = run_checked(dd_line(job.source.path, job.destination.path, extra), popt);
    meter.finish();
    if (!copied) return copied.take_error();

    // dd reads every byte and counts skipped sparse blocks as written: the split is unknown.
    result.bytes_read = size;
    result.bytes_written = job.strategy == Strategy::full ? size : 0;
    if (job.strategy != Strategy::full)
        result.warnings.push_back("dd does not report which blocks conv=sparse skipped; bytes written are not counted");
    // O_DIRECT writes can still sit in a device cache, and file metadata in the journal.
    auto synced = run_checked({"sync", job.destination.path}, {std::chrono::minutes(10)});
    if (!synced) return synced.take_error();
    result.source_direct = idirect;
    result.destination_direct = odirect;
    result.warnings.push_back("dd engine: " + command_line(dd_line(job.source.path, job.destination.path, extra)));
    return result;
}

}  // namespace volmig

#include "copy/copy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "copy/checksum.hpp"
#include "copy/engine.hpp"
#include "copy/fd.hpp"
#include "copy/size.hpp"
#include "copy/unit_io.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

std::string to_string(EngineKind engine) { return engine == EngineKind::native ? "native" : "dd"; }

Result<EngineKind> parse_engine(const std::string& text) {
    if (text == "native") return EngineKind::native;
    if (text == "dd") return EngineKind::dd;
    return Error{"unknown engine '" + text + "': expected native or dd"};
}

std::string to_string(IoMode mode) {
    switch (mode) {
        case IoMode::automatic: return "auto";
        case IoMode::direct: return "direct";
        case IoMode::buffered: return "buffered";
    }
    return "?";
}

namespace {

bool is_power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

Status validate(const CopyOptions& o) {
    if (!is_power_of_two(o.block_size) || o.block_size < 512 || o.block_size > (16u << 20))
        return Error{"block size " + std::to_string(o.block_size) + " is invalid: use a power of two from 512 to 16M"};
    if (o.request_size < o.block_size || o.request_size > (64u << 20))
        return Error{"request size " + std::to_string(o.request_size) + " is invalid: at least the block size, at most 64M"};
    if (o.workers < 1 || o.workers > 64) return Error{"workers must be between 1 and 64"};
    return success();
}

// Creates a new, empty (all holes) destination file of `size` bytes. Fails if it exists.
Status create_destination_file(const std::string& path, uint64_t size) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return errno_error("cannot create destination " + path);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        const Error e = errno_error("cannot size new destination " + path + " to " + std::to_string(size) + " bytes");
        ::unlink(path.c_str());
        return e;
    }
    return success();
}

// The mount point holding `path`: the highest ancestor on the same filesystem.
std::string mount_point_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "/";
    std::string dir = path;
    while (true) {
        const size_t slash = dir.find_last_of('/');
        std::string parent = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
        if (slash == std::string::npos) {
            char cwd[4096];
            parent = ::getcwd(cwd, sizeof cwd) ? cwd : "/";
        }
        struct stat pst {};
        if (::stat(parent.c_str(), &pst) != 0 || pst.st_dev != st.st_dev) return dir == path ? parent : dir;
        if (parent == "/") return "/";
        dir = parent;
    }
}

Result<std::string> fstrim(const std::string& file) {
    const std::string mount = mount_point_of(file);
    Fd fd(::open(mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open " + mount + " for fstrim");
    struct fstrim_range range {};
    range.len = UINT64_MAX;
    if (::ioctl(fd.get(), FITRIM, &range) != 0) return errno_error("fstrim (FITRIM) on " + mount);
    return "fstrim " + mount + ": " + format_bytes(range.len) + " trimmed";
}

}  // namespace

Result<std::string> checksum_volume(const VolumeInfo& volume, uint64_t length, const std::optional<ExtentMap>& given,
                                    IoMode io, unsigned workers, const std::atomic<bool>* cancel) {
    ExtentMap map;
    if (given) {
        map = ExtentMap(length, given->data());
    } else {
        auto found = discover_extents(volume);
        if (!found) return found.take_error();
        map = ExtentMap(length, found->map.data());
    }
    const bool direct = io == IoMode::direct || (io == IoMode::automatic && volume.kind == VolumeKind::block_device);
    auto reader = UnitReader::open(volume, map, direct);
    if (!reader) return reader.take_error();
    WorkCursor cursor(map, kChecksumChunk, 1 << 20, 1ull << 40);
    FirstError failure;
    std::vector<ContentChecksum> sums(std::max(1u, workers));
    run_workers(static_cast<unsigned>(sums.size()), [&](unsigned index) {
        AlignedBuffer buffer(1 << 20);
        WorkItem item;
        while (!failure.failed() && cursor.next(item)) {
            if (cancel && cancel->load()) {
                failure.set(Error{"checksum cancelled", ECANCELED});
                break;
            }
            if (item.hole) continue;
            auto got = reader->fill(item, buffer.data());
            if (!got) {
                failure.set(got.take_error());
                break;
            }
            sums[index].add(item.offset, buffer.data(), item.length);
        }
    });
    if (failure.failed()) return failure.take();
    ContentChecksum total;
    for (const auto& s : sums) total.merge(s);
    return total.finish(length);
}

Result<CopyReport> copy_volume(const std::string& source_path, const std::string& destination_path, const CopyOptions& options) {
    Status valid = validate(options);
    if (!valid.ok()) return valid.error().with_kind(ErrorKind::invalid);

    auto source = inspect_volume(source_path);
    if (!source)
        return Error{"source: " + source.error().message, source.error().code,
                     source.error().code == ENOENT ? ErrorKind::not_found : ErrorKind::refused};

    CopyReport report;
    report.engine = to_string(options.engine);
    report.source = source_path;
    report.destination = destination_path;
    report.size = source->size;
    DestinationFacts facts = options.destination_facts;

    struct stat st {};
    if (::stat(destination_path.c_str(), &st) != 0) {
        if (errno != ENOENT) return errno_error("cannot access destination " + destination_path).with_kind(ErrorKind::refused);
        if (!options.create_destination)
            return Error{"destination " + destination_path + " does not exist (create it, or let volmig create a new file)", ENOENT,
                         ErrorKind::not_found};
        Status created = create_destination_file(destination_path, source->size);
        if (!created.ok()) return created.error().with_kind(ErrorKind::refused);
        report.destination_created = true;
        facts.zero_initialized = true;
        facts.zero_initialized_source = "created by volmig as a new sparse file";
    }
    // From here on, a destination we created is removed again if the copy does not succeed.
    auto fail = [&](Error e) -> Result<CopyReport> {
        if (report.destination_created) ::unlink(destination_path.c_str());
        return e;
    };
    // Before the engine starts nothing has been written: every failure there is a refusal.
    auto refuse = [&](Error e) -> Result<CopyReport> {
        if (e.kind == ErrorKind::failed) e.kind = ErrorKind::refused;
        return fail(std::move(e));
    };

    auto destination = inspect_volume(destination_path);
    if (!destination) return refuse(Error{"destination: " + destination.error().message, destination.error().code});
    if (same_storage(*source, *destination))
        return refuse(Error{"source " + source_path + " and destination " + destination_path + " are the same storage: refusing to copy a volume onto itself"});
    if (destination->size < source->size)
        return refuse(Error{"destination " + destination_path + " is too small: " + std::to_string(destination->size) + " bytes (" +
                          format_bytes(destination->size) + "), the source " + source_path + " has " + std::to_string(source->size) +
                          " bytes (" + format_bytes(source->size) + "); extend the destination first"});
    if (options.fstrim_after && destination->kind != VolumeKind::regular_file)
        return refuse(Error{"fstrim applies to a destination file on a mounted filesystem; " + destination_path + " is a block device"});

    Result<StrategyChoice> choice = Error{"no strategy"};
    if (options.decided) {
        choice = *options.decided;
    } else {
        if (!facts.can_release) facts.can_release = RangeZeroer::probe_release(*destination, &facts.release_source);
        choice = choose_strategy(options.strategy, facts, options.allow_unsafe_sparse);
    }
    if (!choice) return refuse(choice.take_error());
    report.strategy = choice->strategy;
    report.reason = choice->reason;
    if (!options.decided && choice->strategy == Strategy::sparse && !facts.zero_initialized.value_or(false) && options.log)
        options.log("WARNING: " + choice->reason);

    ExtentMap extents;
    if (options.source_extents) {
        if (options.source_extents->size() != source->size)
            return refuse(Error{"the extent map given for " + source_path + " covers " + std::to_string(options.source_extents->size()) +
                              " bytes but the source has " + std::to_string(source->size)});
        extents = *options.source_extents;
        report.extent_method = "extent map supplied by the caller";
    } else {
        auto found = discover_extents(*source);
        if (!found) return refuse(found.take_error());
        extents = std::move(found->map);
        report.extent_method = found->method;
    }
    report.source_data_bytes = extents.data_bytes();
    report.source_extent_count = extents.data().size();

    if (auto a = measure_allocation(*source)) report.source_before = *a;
    if (auto a = measure_allocation(*destination)) report.destination_before = *a;

    const auto start = std::chrono::steady_clock::now();
    EngineJob job{*source, *destination, extents, choice->strategy, options};
    auto ran = options.engine == EngineKind::native ? run_native_engine(job) : run_dd_engine(job);
    if (!ran) {
        Error e = ran.take_error();
        if (e.kind == ErrorKind::failed) e.kind = ErrorKind::io;
        return fail(std::move(e));
    }

    report.bytes_read = ran->bytes_read;
    report.bytes_written = ran->bytes_written;
    report.bytes_skipped = ran->bytes_skipped;
    report.bytes_zeroed = ran->bytes_zeroed;
    report.bytes_released = ran->bytes_released;
    report.zero_method = ran->zero_method;
    report.source_direct = ran->source_direct;
    report.destination_direct = ran->destination_direct;
    report.warnings = ran->warnings;

    if (options.fstrim_after) {
        auto trimmed = fstrim(destination_path);
        if (!trimmed) return fail(trimmed.take_error());
        report.post_copy = *trimmed;
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (options.verify) {
        std::string src_sum;
        if (ran->source_checksum) {
            src_sum = *ran->source_checksum;
        } else {
            auto s = checksum_volume(*source, source->size, extents, options.io, options.workers, options.cancel);
            if (!s) return fail(s.take_error());
            src_sum = *s;
        }
        auto d = checksum_volume(*destination, source->size, std::nullopt, IoMode::automatic, options.workers, options.cancel);
        if (!d) return fail(Error{"verification could not read the destination: " + d.error().message});
        report.verified = true;
        report.source_checksum = src_sum;
        report.destination_checksum = *d;
        if (src_sum != *d)
            return fail(Error{"verification FAILED: the destination " + destination_path + " does not hold the source's content (source " +
                                  src_sum + ", destination " + *d + ")",
                              ErrorKind::mismatch});
    }

    if (auto a = measure_allocation(*source)) report.source_after = *a;
    if (auto a = measure_allocation(*destination)) report.destination_after = *a;
    return report;
}

}  // namespace volmig

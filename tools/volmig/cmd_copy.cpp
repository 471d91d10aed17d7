#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>

#include "copy/copy.hpp"
#include "copy/report.hpp"
#include "copy/size.hpp"
#include "tools/volmig/args.hpp"
#include "tools/volmig/commands.hpp"

namespace volmig::cli {

namespace {

const char* kCopyHelp = R"(usage: volmig copy SRC DST [options]

Copies the volume SRC (a file or block device) onto DST (a file or block device of at least the
same size; a missing DST is created as a new sparse file). Holes of SRC are never read.

Strategy:
  --strategy S          auto (default), full, sparse or full+discard
                          full          every byte written, as dd does (DST fully allocated)
                          sparse        only non-zero blocks written; DST must read as zeros
                          full+discard  non-zero blocks written, zero ranges released so that
                                        they read as zeros (fallocate PUNCH_HOLE, BLKZEROOUT)
                          auto          sparse if DST reads as zeros, else full+discard if DST
                                        can release ranges, else full
  --dest-zeroed         declare that DST reads as zeros (e.g. a new thin volume)
  --force-unsafe-sparse allow sparse onto a DST not declared zeroed (stale data stays!)
  --extent-map FILE     SRC's data extents as JSON {"size": N, "extents": [[off, len], ...]}
  --fstrim              after the copy, FITRIM the filesystem holding a DST file

Engine and I/O:
  --engine E            native (default) or dd (Cinder's dd command lines)
  --direct              O_DIRECT on source and destination (fail if unsupported)
  --no-direct           page cache only
                        (default: O_DIRECT on block devices; files through the page cache,
                        written behind as the copy goes)
  --block-size N        zero-detection block size, power of two 512..16M (default 4K)
  --request-size N      largest single read/write (default 1M)
  --workers N           parallel requests (default 8)
  --rate-limit N        at most N source bytes per second (e.g. 100M)
  --no-create           fail if DST does not exist instead of creating a file

Output:
  --verify              compare checksums of the logical content of SRC and DST afterwards
  --json                print the report as one JSON object
  --quiet               no progress bar

Sizes take binary suffixes: 512, 4K, 1M, 8G. Exit codes: see volmig --help.
)";

std::atomic<bool> g_cancel{false};

void on_signal(int) { g_cancel.store(true); }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

Result<uint64_t> size_option(const ParsedArgs& a, const std::string& name, uint64_t fallback) {
    auto v = a.value(name);
    if (!v) return fallback;
    auto parsed = parse_size(*v);
    if (!parsed) return Error{"--" + name + ": " + parsed.error().message, ErrorKind::invalid};
    return *parsed;
}

int fail(const Error& e) {
    std::cerr << "volmig copy: " << e.message << "\n";
    return exit_code_for(e);
}

}  // namespace

int cmd_copy(const std::vector<std::string>& args) {
    ArgSpec spec;
    spec.flags = {"dest-zeroed", "force-unsafe-sparse", "direct", "no-direct", "verify", "json", "quiet", "fstrim", "no-create", "help"};
    spec.values = {"strategy", "engine", "block-size", "request-size", "workers", "rate-limit", "extent-map"};
    auto parsed = parse_args(args, spec, "copy");
    if (!parsed) return fail(parsed.error());
    const ParsedArgs& a = *parsed;
    if (a.has("help")) {
        std::cout << kCopyHelp;
        return kExitOk;
    }
    if (a.positionals.size() != 2) {
        std::cerr << "volmig copy: expected SRC and DST\n\n" << kCopyHelp;
        return kExitUsage;
    }

    CopyOptions options;
    if (auto s = a.value("strategy")) {
        auto st = parse_strategy(*s);
        if (!st) return fail(st.error().with_kind(ErrorKind::invalid));
        options.strategy = *st;
    }
    if (auto e = a.value("engine")) {
        auto en = parse_engine(*e);
        if (!en) return fail(en.error().with_kind(ErrorKind::invalid));
        options.engine = *en;
    }
    if (a.has("direct") && a.has("no-direct")) return fail(Error{"--direct and --no-direct contradict each other", ErrorKind::invalid});
    options.io = a.has("direct") ? IoMode::direct : a.has("no-direct") ? IoMode::buffered : IoMode::automatic;
    auto block = size_option(a, "block-size", options.block_size);
    auto request = size_option(a, "request-size", options.request_size);
    auto rate = size_option(a, "rate-limit", 0);
    for (auto* r : {&block, &request, &rate})
        if (!*r) return fail(r->error());
    options.block_size = *block;
    options.request_size = *request;
    options.rate_limit = *rate;
    if (auto w = a.value("workers")) {
        try {
            options.workers = static_cast<unsigned>(std::stoul(*w));
        } catch (...) {
            return fail(Error{"--workers: '" + *w + "' is not a number", ErrorKind::invalid});
        }
    }
    if (a.has("dest-zeroed")) {
        options.destination_facts.zero_initialized = true;
        options.destination_facts.zero_initialized_source = "declared with --dest-zeroed";
    }
    options.allow_unsafe_sparse = a.has("force-unsafe-sparse");
    options.verify = a.has("verify");
    options.fstrim_after = a.has("fstrim");
    options.create_destination = !a.has("no-create");
    if (auto file = a.value("extent-map")) {
        std::ifstream in(*file);
        if (!in) return fail(Error{"--extent-map: cannot read " + *file, ErrorKind::invalid});
        std::stringstream text;
        text << in.rdbuf();
        auto map = parse_extent_map_json(text.str());
        if (!map) return fail(Error{"--extent-map " + *file + ": " + map.error().message, ErrorKind::invalid});
        options.source_extents = *map;
    }
    options.log = [](const std::string& line) { std::cerr << "volmig copy: " << line << "\n"; };
    options.cancel = &g_cancel;
    install_signal_handlers();

    const bool bar = !a.has("json") && !a.has("quiet") && ::isatty(STDERR_FILENO);
    if (bar) {
        options.on_progress = [](const Progress& p) { std::cerr << "\r" << format_progress_line(p, 30) << "\033[K" << std::flush; };
    }
    auto report = copy_volume(a.positionals[0], a.positionals[1], options);
    if (bar) std::cerr << "\n";
    if (!report) return fail(report.error());
    if (a.has("json"))
        std::cout << report_to_json(*report).dump(2) << "\n";
    else
        std::cout << report_to_text(*report);
    return kExitOk;
}

}  // namespace volmig::cli

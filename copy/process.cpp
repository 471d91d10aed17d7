#include "copy/process.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <sstream>

#include <boost/asio.hpp>
#include <boost/process.hpp>

namespace volmig {

namespace bp = boost::process;

std::optional<std::string> find_executable(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        if (::access(name.c_str(), X_OK) == 0) return name;
        return std::nullopt;
    }
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin";
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return std::nullopt;
}

std::string command_line(const std::vector<std::string>& argv) {
    std::string out;
    for (const std::string& arg : argv) {
        if (!out.empty()) out += ' ';
        const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?[]{}()<>|;&!#~") == std::string::npos;
        if (plain) {
            out += arg;
        } else {
            out += '\'';
            for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
            out += '\'';
        }
    }
    return out;
}

namespace {

// Drains one pipe asynchronously into `sink`, calling `tap` with each chunk.
struct PipeReader {
    bp::async_pipe pipe;
    std::array<char, 8192> buffer{};
    std::string* sink;
    std::function<void(std::string_view)> tap;

    PipeReader(boost::asio::io_context& ioc, std::string* s, std::function<void(std::string_view)> t)
        : pipe(ioc), sink(s), tap(std::move(t)) {}

    void start() {
        pipe.async_read_some(boost::asio::buffer(buffer), [this](const boost::system::error_code& ec, size_t n) {
            if (n > 0) {
                sink->append(buffer.data(), n);
                if (tap) tap(std::string_view(buffer.data(), n));
            }
            if (!ec) start();
        });
    }
};

}  // namespace

Result<ProcessOutput> run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
    if (argv.empty()) return Error{"run_process: empty command"};
    const std::optional<std::string> exe = find_executable(argv[0]);
    if (!exe) return Error{"'" + argv[0] + "' was not found in PATH, /usr/sbin or /sbin: install the package that provides it"};

    ProcessOutput result;
    boost::asio::io_context ioc;
    PipeReader out(ioc, &result.out, nullptr);
    PipeReader err(ioc, &result.err, options.on_stderr);
    std::unique_ptr<bp::child> child;
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    try {
        if (options.stdin_text) {
            bp::opstream in;
            child = std::make_unique<bp::child>(*exe, bp::args(args), bp::std_out > out.pipe, bp::std_err > err.pipe,
                                                bp::std_in < in, ioc);
            in << *options.stdin_text;
            in.flush();
            in.pipe().close();
        } else {
            child = std::make_unique<bp::child>(*exe, bp::args(args), bp::std_out > out.pipe, bp::std_err > err.pipe,
                                                bp::std_in.close(), ioc);
        }
    } catch (const std::exception& e) {
        return Error{"could not start `" + command_line(argv) + "`: " + e.what()};
    }
    out.start();
    err.start();

    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    bool timed_out = false, cancelled = false;
    // Run until both pipes reach EOF (the child exited or closed them), polling for the deadline.
    while (!ioc.stopped()) {
        ioc.run_for(std::chrono::milliseconds(50));
        if (options.cancel && options.cancel->load()) cancelled = true;
        if (std::chrono::steady_clock::now() > deadline) timed_out = true;
        if (timed_out || cancelled) {
            std::error_code ignored;
            child->terminate(ignored);
            break;
        }
    }
    std::error_code wait_error;
    child->wait(wait_error);
    if (timed_out)
        return Error{"`" + command_line(argv) + "` did not finish within " +
                     std::to_string(options.timeout.count() / 1000.0).substr(0, 5) + " s and was killed"};
    if (cancelled) return Error{"`" + command_line(argv) + "` was cancelled", ECANCELED, ErrorKind::cancelled};
    result.exit_code = child->exit_code();
    return result;
}

Result<ProcessOutput> run_checked(const std::vector<std::string>& argv, const ProcessOptions& options) {
    Result<ProcessOutput> r = run_process(argv, options);
    if (!r) return r;
    if (r->exit_code != 0) {
        std::string err = r->err;
        while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
        return Error{"`" + command_line(argv) + "` failed with exit code " + std::to_string(r->exit_code) +
                     (err.empty() ? std::string() : ": " + err)};
    }
    return r;
}

}  // namespace volmig

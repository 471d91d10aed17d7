// Running external tools (dd, losetup, lvm2, blkdiscard, fstrim) with bounded time.
//
// Every run has a timeout, captures stdout and stderr, and can be cancelled; failures carry the
// command line and the tool's stderr so an operator sees what the tool itself said.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

struct ProcessOutput {
    int exit_code = -1;
    std::string out;
    std::string err;
};

struct ProcessOptions {
    std::chrono::milliseconds timeout{std::chrono::minutes(5)};
    // Called with each chunk of stderr as it arrives (dd's status=progress lines, for example).
    std::function<void(std::string_view)> on_stderr;
    const std::atomic<bool>* cancel = nullptr;
    std::optional<std::string> stdin_text;
};

// Finds `name` in PATH, then in /usr/sbin and /sbin (tools like losetup live there).
std::optional<std::string> find_executable(const std::string& name);

// Runs argv[0] (looked up with find_executable unless it contains a '/') and waits for it.
// Errors: the tool is missing, it could not start, it timed out or was cancelled (it is killed).
// A non-zero exit code is NOT an error here: callers decide; see run_checked().
Result<ProcessOutput> run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// run_process(), and a non-zero exit becomes an Error quoting the command line and stderr.
Result<ProcessOutput> run_checked(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// "dd if=a of=b": the command line as an operator would type it (shell-quoted where needed).
std::string command_line(const std::vector<std::string>& argv);

}  // namespace volmig

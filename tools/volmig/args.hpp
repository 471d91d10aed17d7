// Command-line parsing for the volmig subcommands: --flag, --name VALUE, --name=VALUE, and
// positionals; "--" ends options. Unknown options are errors that name the option.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig::cli {

struct ArgSpec {
    std::set<std::string> flags;   // names without the leading "--"
    std::set<std::string> values;  // options that take a value
};

struct ParsedArgs {
    std::set<std::string> flags;
    std::map<std::string, std::string> values;
    std::vector<std::string> positionals;

    bool has(const std::string& flag) const { return flags.count(flag) > 0; }
    std::optional<std::string> value(const std::string& name) const;
};

Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const ArgSpec& spec, const std::string& command);

// Exit codes shared by every subcommand (documented in `volmig --help`).
enum ExitCode : int {
    kExitOk = 0,
    kExitFailed = 1,     // failed for another reason
    kExitUsage = 2,      // bad arguments or configuration
    kExitRefused = 3,    // refused before writing anything (unsafe, too small, in use, missing)
    kExitIo = 4,         // I/O error part-way; the destination is incomplete
    kExitMismatch = 5,   // verification found the destination differs from the source
    kExitCancelled = 130 // interrupted (SIGINT/SIGTERM)
};

int exit_code_for(const Error& error);

}  // namespace volmig::cli

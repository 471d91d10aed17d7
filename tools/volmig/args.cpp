#include "tools/volmig/args.hpp"

namespace volmig::cli {

std::optional<std::string> ParsedArgs::value(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
}

Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const ArgSpec& spec, const std::string& command) {
    ParsedArgs parsed;
    bool options_done = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (options_done || arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
            if (arg == "--") {
                options_done = true;
                continue;
            }
            if (!options_done && arg.size() > 1 && arg[0] == '-' && arg != "-")
                return Error{"unknown option '" + arg + "' (see volmig " + command + " --help)", ErrorKind::invalid};
            parsed.positionals.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2), value;
        const size_t eq = name.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (spec.flags.count(name)) {
            if (inline_value) return Error{"option --" + name + " takes no value", ErrorKind::invalid};
            parsed.flags.insert(name);
        } else if (spec.values.count(name)) {
            if (!inline_value) {
                if (i + 1 >= args.size()) return Error{"option --" + name + " needs a value", ErrorKind::invalid};
                value = args[++i];
            }
            parsed.values[name] = value;
        } else {
            return Error{"unknown option '--" + name + "' (see volmig " + command + " --help)", ErrorKind::invalid};
        }
    }
    return parsed;
}

int exit_code_for(const Error& error) {
    switch (error.kind) {
        case ErrorKind::invalid: return kExitUsage;
        case ErrorKind::refused:
        case ErrorKind::conflict:
        case ErrorKind::not_found: return kExitRefused;
        case ErrorKind::io: return kExitIo;
        case ErrorKind::mismatch: return kExitMismatch;
        case ErrorKind::cancelled: return kExitCancelled;
        case ErrorKind::failed: return kExitFailed;
    }
    return kExitFailed;
}

}  // namespace volmig::cli

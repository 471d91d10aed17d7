// What the subcommands that talk to a daemon share (defined in cmd_daemon.cpp): the connection
// options, one request with its error reporting, and the usage error.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/volmig/args.hpp"

namespace volmig::cli {

struct Connection {
    std::string url;
    std::string token;
    std::string ca_file;  // --ca-file, else $OS_CACERT: the CA an https:// daemon is verified against
    bool json = false;
};

extern const char* const kConnectionHelp;  // the --url/--token/--json part of every daemon command's help

ArgSpec with_connection(ArgSpec spec);      // adds --url, --token, --ca-file, --json, --help
Connection connection_of(const ParsedArgs& a);

// Sends a request; returns the parsed body, or prints the error ("volmig COMMAND: ...", or
// stores it in *error instead when given) and sets the exit code (3 for a 4xx answer, 1 for a
// failure or an unreachable daemon).
std::optional<nlohmann::json> call(const Connection& c, const std::string& command, const std::string& method, const std::string& path,
                                   const nlohmann::json& body, int& exit_code, std::string* error = nullptr);

std::string text_of(const nlohmann::json& v);  // "-" for null; strings unquoted
int usage_error(const std::string& command, const std::string& message, const char* help);

}  // namespace volmig::cli

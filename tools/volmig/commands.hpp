// The volmig subcommands. Each takes the arguments after its name and returns an exit code.
#pragma once

#include <string>
#include <vector>

namespace volmig::cli {

int cmd_copy(const std::vector<std::string>& args);
int cmd_stat(const std::vector<std::string>& args);

}  // namespace volmig::cli

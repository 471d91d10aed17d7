// The volmig subcommands. Each takes the arguments after its name and returns an exit code.
#pragma once

#include <string>
#include <vector>

namespace volmig::cli {

int cmd_copy(const std::vector<std::string>& args);
int cmd_stat(const std::vector<std::string>& args);
int cmd_volumes(const std::vector<std::string>& args);
int cmd_create(const std::vector<std::string>& args);
int cmd_show(const std::vector<std::string>& args);
int cmd_delete(const std::vector<std::string>& args);
int cmd_capabilities(const std::vector<std::string>& args);
int cmd_plan(const std::vector<std::string>& args);
int cmd_migrate(const std::vector<std::string>& args);
int cmd_evacuate(const std::vector<std::string>& args);

}  // namespace volmig::cli

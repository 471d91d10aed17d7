// volmig: the operator CLI. Thin: each subcommand lives in its own file.
#include <iostream>
#include <string>
#include <vector>

#include "tools/volmig/args.hpp"
#include "tools/volmig/commands.hpp"

namespace {

const char* kHelp = R"(usage: volmig COMMAND [options]     (volmig COMMAND --help for details)

Volume copy (local, no daemon):
  copy SRC DST      copy a volume (file or block device) with full, sparse or full+discard
  stat PATH         size, allocated bytes, Data% and extents of a file or block device

Talking to a daemon (--url or $VOLMIG_URL, --token or $VOLMIG_TOKEN, --ca-file or $OS_CACERT):
  volumes           list volumes with status, size, host, Data%
  create SIZE       create a volume of SIZE GiB (--name, --type VOLUME_BACKEND_NAME)
  show ID           one volume, with its migration
  delete ID         delete a volume
  capabilities HOST@BACKEND    a backend's capability document (is it zero-initialized?)
  plan --to HOST@BACKEND ID    how a migration would copy the volume, and why
  migrate ID --to HOST@BACKEND#POOL [--wait]   migrate a volume (progress, then the report)
  evacuate --from HOST@BACKEND --to HOST@BACKEND#POOL [--wait]
                    migrate every available volume of a backend, with one progress table

Exit codes:
  0    success
  1    failed for another reason (see the message)
  2    bad arguments or configuration
  3    refused before anything was written: unsafe (sparse onto a destination not known to
       read as zeros), destination too small, in use or the same as the source, path missing
  4    I/O error part-way (ENOSPC, EIO, short write): the destination is incomplete
  5    verification failed: the destination differs from the source
  130  interrupted (SIGINT or SIGTERM); a destination file volmig created is removed
For daemon commands, 3 also means the daemon refused the request (4xx) and 1 that it failed or
could not be reached.
)";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kHelp;
        return args.empty() ? volmig::cli::kExitUsage : volmig::cli::kExitOk;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    if (command == "copy") return volmig::cli::cmd_copy(args);
    if (command == "stat") return volmig::cli::cmd_stat(args);
    if (command == "volumes") return volmig::cli::cmd_volumes(args);
    if (command == "create") return volmig::cli::cmd_create(args);
    if (command == "show") return volmig::cli::cmd_show(args);
    if (command == "delete") return volmig::cli::cmd_delete(args);
    if (command == "capabilities") return volmig::cli::cmd_capabilities(args);
    if (command == "plan") return volmig::cli::cmd_plan(args);
    if (command == "migrate") return volmig::cli::cmd_migrate(args);
    if (command == "evacuate") return volmig::cli::cmd_evacuate(args);
    std::cerr << "volmig: unknown command '" << command << "'\n\n" << kHelp;
    return volmig::cli::kExitUsage;
}

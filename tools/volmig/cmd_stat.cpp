#include <iostream>

#include "copy/report.hpp"
#include "copy/size.hpp"
#include "copy/volume.hpp"
#include "tools/volmig/args.hpp"
#include "tools/volmig/commands.hpp"

namespace volmig::cli {

namespace {
std::string percent_text(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", p);
    return buf;
}

const char* kStatHelp = R"(usage: volmig stat PATH [--json]

Prints the size, allocated bytes, Data% and data extents of a volume (file or block device).
For a loop device the allocation and extents are those of its backing file within the loop's
window; other block devices do not report allocation ("unknown") and count as all data.
)";
}

int cmd_stat(const std::vector<std::string>& args) {
    ArgSpec spec;
    spec.flags = {"json", "help"};
    auto parsed = parse_args(args, spec, "stat");
    if (!parsed) {
        std::cerr << "volmig stat: " << parsed.error().message << "\n";
        return kExitUsage;
    }
    if (parsed->has("help")) {
        std::cout << kStatHelp;
        return kExitOk;
    }
    if (parsed->positionals.size() != 1) {
        std::cerr << "volmig stat: expected one PATH\n\n" << kStatHelp;
        return kExitUsage;
    }
    const std::string& path = parsed->positionals[0];
    auto volume = inspect_volume(path);
    if (!volume) {
        std::cerr << "volmig stat: " << volume.error().message << "\n";
        return kExitRefused;
    }
    auto allocation = measure_allocation(*volume);
    auto extents = discover_extents(*volume);
    if (!allocation || !extents) {
        std::cerr << "volmig stat: " << (!allocation ? allocation.error().message : extents.error().message) << "\n";
        return kExitFailed;
    }
    const std::string kind = volume->kind == VolumeKind::regular_file ? "file" : volume->loop ? "loop device" : "block device";
    if (parsed->has("json")) {
        nlohmann::json j = allocation_to_json(*allocation);
        j["path"] = path;
        j["kind"] = kind;
        j["data_bytes"] = extents->map.data_bytes();
        j["extent_count"] = extents->map.data().size();
        j["extent_method"] = extents->method;
        if (volume->loop)
            j["loop"] = {{"backing_file", volume->loop->backing_file}, {"offset", volume->loop->offset}, {"size_limit", volume->loop->size_limit}};
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::cout << path << " (" << kind << ")\n"
              << "  size        " << format_bytes(volume->size) << " (" << volume->size << " B)\n"
              << "  allocated   " << (allocation->allocated ? format_bytes(*allocation->allocated) + " (" + std::to_string(*allocation->allocated) + " B)" : "unknown") << "\n"
              << "  Data%       " << (allocation->allocated ? percent_text(allocation->data_percent()) : "unknown") << "\n"
              << "  data        " << format_bytes(extents->map.data_bytes()) << " in " << extents->map.data().size() << " extents\n"
              << "  found by    " << extents->method << "\n";
    if (volume->loop)
        std::cout << "  backing     " << volume->loop->backing_file << " offset " << volume->loop->offset << " size limit "
                  << volume->loop->size_limit << "\n";
    return kExitOk;
}

}  // namespace volmig::cli

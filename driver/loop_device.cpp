#include "driver/loop_device.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <chrono>

#include "copy/process.hpp"
#include "copy/volume.hpp"

namespace volmig {

namespace {
const ProcessOptions kLosetup{std::chrono::seconds(30)};
}

Result<std::string> attach_loop(const std::string& file, uint64_t offset, uint64_t size_limit) {
    std::vector<std::string> argv{"losetup", "--find", "--show"};
    if (offset) argv.insert(argv.end(), {"--offset", std::to_string(offset)});
    if (size_limit) argv.insert(argv.end(), {"--sizelimit", std::to_string(size_limit)});
    argv.push_back(file);
    auto r = run_checked(argv, kLosetup);
    if (!r) return Error{"cannot attach " + file + " as a loop device: " + r.error().message};
    std::string device = r->out;
    while (!device.empty() && (device.back() == '\n' || device.back() == ' ')) device.pop_back();
    return device;
}

Status detach_loop(const std::string& device) {
    struct stat st {};
    if (::stat(device.c_str(), &st) != 0) return success();
    auto r = run_process({"losetup", "-d", device}, kLosetup);
    if (!r) return r.error();
    if (r->exit_code != 0 && loop_backing(device, st.st_rdev))
        return Error{"cannot detach " + device + ": " + r->err};
    return success();
}

bool loop_attached_to(const std::string& device, const std::string& file) {
    struct stat dev {}, target {};
    if (::stat(device.c_str(), &dev) != 0 || !S_ISBLK(dev.st_mode) || ::stat(file.c_str(), &target) != 0) return false;
    auto loop = loop_backing(device, dev.st_rdev);
    return loop && loop->backing_inode == target.st_ino && loop->backing_dev == target.st_dev;
}

std::vector<std::string> loops_over(const std::string& file, std::optional<uint64_t> offset) {
    std::vector<std::string> found;
    struct stat target {};
    if (::stat(file.c_str(), &target) != 0) return found;
    DIR* dir = ::opendir("/sys/block");
    if (!dir) return found;
    while (dirent* e = ::readdir(dir)) {
        const std::string name = e->d_name;
        if (name.rfind("loop", 0) != 0) continue;
        const std::string device = "/dev/" + name;
        struct stat dev {};
        if (::stat(device.c_str(), &dev) != 0 || !S_ISBLK(dev.st_mode)) continue;
        auto loop = loop_backing(device, dev.st_rdev);
        if (!loop || loop->backing_inode != target.st_ino || loop->backing_dev != target.st_dev) continue;
        if (offset && loop->offset != *offset) continue;
        found.push_back(device);
    }
    ::closedir(dir);
    return found;
}

}  // namespace volmig

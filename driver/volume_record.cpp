#include "driver/volume_record.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace volmig {

std::string to_string(VolumeStatus status) {
    switch (status) {
        case VolumeStatus::creating: return "creating";
        case VolumeStatus::available: return "available";
        case VolumeStatus::in_use: return "in-use";
        case VolumeStatus::deleting: return "deleting";
        case VolumeStatus::error: return "error";
        case VolumeStatus::error_deleting: return "error_deleting";
        case VolumeStatus::extending: return "extending";
        case VolumeStatus::error_extending: return "error_extending";
        case VolumeStatus::maintenance: return "maintenance";
        case VolumeStatus::attaching: return "attaching";
        case VolumeStatus::detaching: return "detaching";
        case VolumeStatus::reserved: return "reserved";
    }
    return "error";
}

std::optional<VolumeStatus> parse_volume_status(const std::string& text) {
    for (VolumeStatus s : {VolumeStatus::creating, VolumeStatus::available, VolumeStatus::in_use, VolumeStatus::deleting, VolumeStatus::error,
                           VolumeStatus::error_deleting, VolumeStatus::extending, VolumeStatus::error_extending, VolumeStatus::maintenance,
                           VolumeStatus::attaching, VolumeStatus::detaching, VolumeStatus::reserved})
        if (to_string(s) == text) return s;
    return std::nullopt;
}

std::string to_string(VolumeMigrationStatus status) {
    switch (status) {
        case VolumeMigrationStatus::none: return "";
        case VolumeMigrationStatus::starting: return "starting";
        case VolumeMigrationStatus::migrating: return "migrating";
        case VolumeMigrationStatus::completing: return "completing";
        case VolumeMigrationStatus::success: return "success";
        case VolumeMigrationStatus::error: return "error";
        case VolumeMigrationStatus::target: return "target";
    }
    return "";
}

std::string VolumeRecord::migration_status_text() const {
    return migration_status == VolumeMigrationStatus::target ? "target:" + migration_source : to_string(migration_status);
}

std::string utc_timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
    return buf;
}

}  // namespace volmig

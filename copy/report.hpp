// Rendering a CopyReport: an aligned text block for people, one JSON object for programs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "copy/copy.hpp"

namespace volmig {

nlohmann::json report_to_json(const CopyReport& report);
std::string report_to_text(const CopyReport& report);

// "1.23 GiB (45.6%)" or "unknown" when the storage does not say.
std::string format_allocation(const Allocation& allocation);
nlohmann::json allocation_to_json(const Allocation& allocation);

// One-line progress: "[#####.....]  45.2%  1.2 GiB / 2.6 GiB  850 MiB/s  ETA 2s"
std::string format_progress_line(const Progress& progress, int bar_width);

}  // namespace volmig

// The open-file limit a server of N connections needs.
#pragma once

#include "copy/result.hpp"

namespace volmig {

// Raises the soft limit on open files to what `connections` (one descriptor each) and the
// daemon's own files need, if the hard limit allows; else says which setting to change.
Status ensure_open_files(unsigned connections);

}  // namespace volmig

// Crash points for the crash-point suite: named places in a migration where a test can make the
// daemon die as a power cut or kill -9 would, to show that a restart converges.
//
// VOLMIG_FAILPOINTS="source.mid_stream=kill,target.after_prepare=kill" in volmigd's environment
// makes it SIGKILL itself when it reaches a named point (after logging which). Unset, a point
// costs one branch. The names are listed in DESIGN.md ("Crash points").
#pragma once

namespace volmig {

void failpoint(const char* name);

}  // namespace volmig

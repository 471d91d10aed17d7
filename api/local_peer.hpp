// The destination of a migration between two backends of this daemon, behind the same
// PeerClient interface as a remote daemon: create, show, find, prepare and remove act on this
// daemon's own volumes. The copy and the completion of a local migration do not cross a network
// (the copy engine copies, the volume takes the new storage), so stream and adopt refuse.
#pragma once

#include "api/peer_client.hpp"
#include "api/volume_service.hpp"

namespace volmig {

std::unique_ptr<PeerClient> make_local_peer(VolumeService& volumes);

// A volume record as a peer's reply would show it.
PeerVolume peer_view_of(const VolumeRecord& record);

}  // namespace volmig

#include "api/migration_record.hpp"

#include <set>
#include <utility>

namespace volmig {

namespace {

constexpr MigrationState kStates[] = {MigrationState::queued, MigrationState::starting,  MigrationState::migrating, MigrationState::awaiting_completion,
                                      MigrationState::completing, MigrationState::releasing, MigrationState::receiving,
                                      MigrationState::streaming, MigrationState::received,  MigrationState::adopting,
                                      MigrationState::success,   MigrationState::error};

using Move = std::pair<MigrationState, MigrationState>;

const std::set<Move>& source_moves() {
    using S = MigrationState;
    static const std::set<Move> moves{
        {S::queued, S::starting},              {S::queued, S::error},
        {S::starting, S::migrating},           {S::starting, S::error},
        {S::migrating, S::awaiting_completion}, {S::migrating, S::completing}, {S::migrating, S::error},
        {S::awaiting_completion, S::completing}, {S::awaiting_completion, S::error},
        {S::completing, S::releasing},         {S::completing, S::error},
        {S::releasing, S::success},
    };
    return moves;
}

const std::set<Move>& target_moves() {
    using S = MigrationState;
    static const std::set<Move> moves{
        {S::receiving, S::streaming}, {S::receiving, S::error},
        {S::streaming, S::received},  {S::streaming, S::error},
        {S::received, S::success},    {S::received, S::adopting},   {S::received, S::error},
        {S::adopting, S::success},    {S::adopting, S::received},
    };
    return moves;
}

}  // namespace

std::string to_string(MigrationRole role) { return role == MigrationRole::source ? "source" : "target"; }

std::optional<MigrationRole> parse_migration_role(const std::string& text) {
    if (text == "source") return MigrationRole::source;
    if (text == "target") return MigrationRole::target;
    return std::nullopt;
}

std::string to_string(MigrationState state) {
    switch (state) {
        case MigrationState::queued: return "queued";
        case MigrationState::starting: return "starting";
        case MigrationState::migrating: return "migrating";
        case MigrationState::awaiting_completion: return "awaiting_completion";
        case MigrationState::completing: return "completing";
        case MigrationState::releasing: return "releasing";
        case MigrationState::receiving: return "receiving";
        case MigrationState::streaming: return "streaming";
        case MigrationState::received: return "received";
        case MigrationState::adopting: return "adopting";
        case MigrationState::success: return "success";
        case MigrationState::error: return "error";
    }
    return "error";
}

std::optional<MigrationState> parse_migration_state(const std::string& text) {
    for (MigrationState s : kStates)
        if (to_string(s) == text) return s;
    return std::nullopt;
}

bool transition_allowed(MigrationRole role, MigrationState from, MigrationState to) {
    return (role == MigrationRole::source ? source_moves() : target_moves()).count({from, to}) > 0;
}

VolumeMigrationStatus volume_migration_status_of(MigrationState state) {
    switch (state) {
        case MigrationState::queued:
        case MigrationState::starting: return VolumeMigrationStatus::starting;
        case MigrationState::migrating:
        case MigrationState::awaiting_completion: return VolumeMigrationStatus::migrating;
        case MigrationState::completing:
        case MigrationState::releasing: return VolumeMigrationStatus::completing;
        case MigrationState::success: return VolumeMigrationStatus::success;
        default: return VolumeMigrationStatus::error;
    }
}

}  // namespace volmig

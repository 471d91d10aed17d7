// Copy strategies and how `auto` picks one from what the caller knows about the destination.
#pragma once

#include <optional>
#include <string>

#include "copy/result.hpp"

namespace volmig {

enum class Strategy {
    automatic,          // pick from DestinationFacts (never sparse without zero-initialization)
    full,               // every byte of the destination written, as dd does
    sparse,             // only non-zero blocks written; the destination must read as zeros
    full_then_discard,  // non-zero blocks written, zero ranges released so they read as zeros
};

// "auto", "full", "sparse", "full+discard"
std::string to_string(Strategy strategy);
Result<Strategy> parse_strategy(const std::string& text);

// What the caller knows about the destination. Unknown is treated as the unsafe answer.
struct DestinationFacts {
    std::optional<bool> zero_initialized;  // every byte reads as zero before the copy
    std::optional<bool> can_release;       // ranges can be released so that they read as zeros
    std::string zero_initialized_source;   // why we believe it ("declared with --dest-zeroed")
    std::string release_source;            // why ("fallocate PUNCH_HOLE works on /dev/loop3")
};

struct StrategyChoice {
    Strategy strategy = Strategy::full;
    std::string reason;  // in words, for reports and logs
};

// `auto`: zero-initialized -> sparse; else releasable -> full+discard; else full.
// A forced strategy is returned as is, except that `sparse` onto a destination not known to be
// zero-initialized is refused unless `allow_unsafe_sparse` (then the reason says so loudly).
Result<StrategyChoice> choose_strategy(Strategy requested, const DestinationFacts& facts, bool allow_unsafe_sparse);

}  // namespace volmig

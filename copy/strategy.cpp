#include "copy/strategy.hpp"

namespace volmig {

std::string to_string(Strategy strategy) {
    switch (strategy) {
        case Strategy::automatic: return "auto";
        case Strategy::full: return "full";
        case Strategy::sparse: return "sparse";
        case Strategy::full_then_discard: return "full+discard";
    }
    return "?";
}

Result<Strategy> parse_strategy(const std::string& text) {
    if (text == "auto") return Strategy::automatic;
    if (text == "full") return Strategy::full;
    if (text == "sparse") return Strategy::sparse;
    if (text == "full+discard" || text == "full_then_discard") return Strategy::full_then_discard;
    return Error{"unknown strategy '" + text + "': expected auto, full, sparse or full+discard"};
}

namespace {

std::string because(const std::string& source) { return source.empty() ? std::string() : " (" + source + ")"; }

}  // namespace

Result<StrategyChoice> choose_strategy(Strategy requested, const DestinationFacts& facts, bool allow_unsafe_sparse) {
    const bool zeroed = facts.zero_initialized.value_or(false);
    const bool releasable = facts.can_release.value_or(false);
    switch (requested) {
        case Strategy::automatic:
            if (zeroed)
                return StrategyChoice{Strategy::sparse, "destination reads as zeros" + because(facts.zero_initialized_source) +
                                                            ": holes and zero blocks skipped"};
            if (releasable)
                return StrategyChoice{Strategy::full_then_discard,
                                      "destination not known to read as zeros, but zero ranges can be released so that they do" +
                                          because(facts.release_source) + ": data written, zero ranges released"};
            return StrategyChoice{Strategy::full,
                                  "destination not known to read as zeros and cannot release ranges: every byte written"};
        case Strategy::full:
            return StrategyChoice{Strategy::full, "requested: every byte written"};
        case Strategy::full_then_discard:
            return StrategyChoice{Strategy::full_then_discard, "requested: data written, zero ranges released as zeros"};
        case Strategy::sparse:
            if (zeroed)
                return StrategyChoice{Strategy::sparse, "requested; destination reads as zeros" + because(facts.zero_initialized_source)};
            if (allow_unsafe_sparse)
                return StrategyChoice{Strategy::sparse,
                                      "UNSAFE: sparse forced onto a destination not known to read as zeros; "
                                      "skipped blocks keep whatever the destination held"};
            return Error{"refusing sparse copy: the destination is not known to read as zeros, so skipped blocks would "
                         "keep stale data. Declare it zero-initialized (--dest-zeroed) if it is, use --strategy auto or "
                         "full+discard, or override with --force-unsafe-sparse"};
    }
    return Error{"unknown strategy"};
}

}  // namespace volmig

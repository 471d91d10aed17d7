// Pacing of copies by bytes per second.
//
// Pacer: a token bucket whose rate is given at each request, so that the rate may change while
// a copy runs. SharedRate: one limit for every copy of a process (volmigd's daemon-wide
// volume_copy_bps_limit): each copy holds a SharedRate::Share while it runs, and while N shares
// are held each one is paced at limit / N, so that N copies together stay under the limit and
// none starves another; when a copy ends (its share goes), the others run at limit / (N - 1)
// from their next request. A share a slow copy cannot use is not handed to the others: the split
// is even, not work-conserving, which keeps every copy's speed predictable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace volmig {

class Pacer {
public:
    // Waits until `bytes` may go at `bytes_per_second` (0 = at once); sleeps in short steps and
    // returns early once `stop` is set. Thread-safe: concurrent callers share the bucket. After
    // an idle period a burst of at most ~100 ms worth of bytes goes at once.
    void acquire(uint64_t bytes, uint64_t bytes_per_second, const std::atomic<bool>& stop);

private:
    std::mutex mutex_;
    std::chrono::steady_clock::time_point next_free_ = std::chrono::steady_clock::now();
};

class SharedRate {
public:
    explicit SharedRate(uint64_t bytes_per_second) : limit_(bytes_per_second) {}
    SharedRate(const SharedRate&) = delete;
    SharedRate& operator=(const SharedRate&) = delete;

    uint64_t limit() const { return limit_; }  // 0 = unlimited
    unsigned shares() const { return shares_.load(); }

    // One copy's part of the rate, from construction to destruction. The SharedRate must
    // outlive its shares.
    class Share {
    public:
        explicit Share(SharedRate& rate) : rate_(rate) { rate_.shares_.fetch_add(1); }
        ~Share() { rate_.shares_.fetch_sub(1); }
        Share(const Share&) = delete;
        Share& operator=(const Share&) = delete;

        // limit / (shares held now); 0 when the limit is 0 (unlimited).
        uint64_t rate() const;
        // Paces `bytes` of this copy at rate(); `stop` ends the wait early.
        void acquire(uint64_t bytes, const std::atomic<bool>& stop) { pacer_.acquire(bytes, rate(), stop); }

    private:
        SharedRate& rate_;
        Pacer pacer_;
    };

private:
    const uint64_t limit_;
    std::atomic<unsigned> shares_{0};
};

}  // namespace volmig

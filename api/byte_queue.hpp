// Bytes handed from the extent-stream producer to libcurl's upload callback, bounded in memory:
// the producer blocks while `capacity` bytes wait, the consumer while none do.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

#include "copy/result.hpp"

namespace volmig {

class ByteQueue {
public:
    explicit ByteQueue(size_t capacity) : capacity_(capacity) {}

    // Blocks while the queue is full; fails once it is closed.
    Status push(const char* data, size_t n);
    // End of stream (error empty) or abort (error set): wakes both sides.
    void close(const std::string& error = "");
    // Up to `capacity` bytes; 0 at the end of the stream; the producer's error after an abort.
    Result<size_t> pop(char* buf, size_t capacity);

private:
    size_t capacity_;
    std::mutex mutex_;
    std::condition_variable data_, space_;
    std::deque<std::string> chunks_;
    size_t queued_ = 0, offset_ = 0;
    bool closed_ = false, producer_failed_ = false;
    std::string reason_;
};

}  // namespace volmig

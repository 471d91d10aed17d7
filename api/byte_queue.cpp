#include "api/byte_queue.hpp"

#include <cstring>

namespace volmig {

Status ByteQueue::push(const char* data, size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock, [&] { return queued_ < capacity_ || closed_; });
    if (closed_) return Error{"the upload stopped: " + (reason_.empty() ? std::string("the peer closed the connection") : reason_)};
    chunks_.emplace_back(data, n);
    queued_ += n;
    data_.notify_one();
    return success();
}

void ByteQueue::close(const std::string& error) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    reason_ = error;
    producer_failed_ = !error.empty();
    data_.notify_all();
    space_.notify_all();
}

Result<size_t> ByteQueue::pop(char* buf, size_t capacity) {
    std::unique_lock<std::mutex> lock(mutex_);
    data_.wait(lock, [&] { return !chunks_.empty() || closed_; });
    if (chunks_.empty()) {
        if (producer_failed_) return Error{reason_};
        return size_t{0};
    }
    size_t n = 0;
    while (n < capacity && !chunks_.empty()) {
        std::string& front = chunks_.front();
        const size_t take = std::min(capacity - n, front.size() - offset_);
        std::memcpy(buf + n, front.data() + offset_, take);
        n += take;
        offset_ += take;
        if (offset_ == front.size()) {
            queued_ -= front.size();
            chunks_.pop_front();
            offset_ = 0;
        }
    }
    space_.notify_one();
    return n;
}

}  // namespace volmig

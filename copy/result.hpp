// Result<T>: the value of a fallible operation, or an Error saying what failed and what to do.
//
// Expected failures (ENOSPC, a missing path, a peer that does not answer) travel as values;
// exceptions are reserved for programming errors and unwind only to a top-level boundary.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace volmig {

// What kind of failure, so that callers (the CLI's exit codes, the API's HTTP statuses) can
// tell "refused, nothing was touched" from "failed part-way".
enum class ErrorKind {
    failed,     // anything else
    invalid,    // bad input: arguments, configuration, request fields
    refused,    // a precondition failed before any byte was written (unsafe, too small, in use)
    not_found,  // the volume, path or peer does not exist
    io,         // an I/O error part-way (ENOSPC, EIO, short write); the destination is incomplete
    mismatch,   // verification found the destination differs from the source
    cancelled,  // stopped on request
    conflict,   // the request clashes with what is going on (another migration, a stream in progress)
};

struct Error {
    std::string message;  // what failed, on which path/volume/offset, and the cause
    int code = 0;         // errno when the cause is a system call, else 0
    ErrorKind kind = ErrorKind::failed;

    Error() = default;
    Error(std::string m, int c = 0, ErrorKind k = ErrorKind::failed) : message(std::move(m)), code(c), kind(k) {}
    Error(std::string m, ErrorKind k) : message(std::move(m)), kind(k) {}
    Error with_kind(ErrorKind k) const { return Error(message, code, k); }
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Error error) : state_(std::move(error)) {}  // NOLINT

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(state_); }
    Error take_error() { return std::get<1>(std::move(state_)); }

private:
    std::variant<T, Error> state_;
};

struct Ok {};

// Status: a Result that carries no value.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error) : failed_(true), error_(std::move(error)) {}  // NOLINT
    Status(Ok) {}                                                     // NOLINT

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    bool failed_ = false;
    Error error_;
};

inline Status success() { return Status(); }

// Error with errno text appended: "<what>: <strerror(err)>".
Error errno_error(const std::string& what, int err = errno);

}  // namespace volmig

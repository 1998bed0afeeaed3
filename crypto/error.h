// The one error type of xgw: a code naming the failure class plus a short,
// human-readable message that says what failed and, where possible, what to do.
//
// Fallible functions return Result<T> (tl::expected). Exceptions are used only
// at start-up and are caught in main().
//
// Messages never contain secrets (keys, passphrases, tokens) or personal data
// (cell values, names, national numbers). Code that builds a message from input
// must only name positions (row, column, byte offset) and rules, never values.
#ifndef XGW_CRYPTO_ERROR_H_
#define XGW_CRYPTO_ERROR_H_

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace xgw {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something unusable (bad key string, bad flag)
  kIo,               // the operating system failed a read, write, open, fsync ...
  // age decryption failure classes, as named by the age test vectors.
  kArmor,            // ASCII armor is malformed
  kHeader,           // age header does not parse
  kNoMatch,          // no identity could unwrap any recipient stanza
  kHmac,             // header MAC does not verify
  kPayload,          // a payload chunk failed to authenticate or is malformed
  kTruncated,        // the payload ended before its final chunk
  kTrailingData,     // bytes follow the final chunk
  // other classes
  kKey,              // a key file or key string is malformed or cannot be opened
  kSignature,        // a signature does not verify
  kFormat,           // a document (JSON, CSV, XLSX, note, proof ...) is malformed
  kPolicy,           // a protocol rule forbids the action
  kLimit,            // a configured size or count limit was exceeded
  kNotFound,
  kConflict,         // the action conflicts with the current state
  kUnauthenticated,
  kForbidden,
  kCorrupt,          // stored data failed an integrity check
  kUnavailable,      // a shared resource is exhausted for now; the same call may succeed later
  kInternal,
};

// Short stable name of a code ("header", "no_match", ...) for logs and tests.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;  // lower-case, no trailing period, never a secret or personal datum
};

template <typename T>
using Result = tl::expected<T, Error>;

// Builds an unexpected error: `return Fail(ErrorCode::kHeader, "bad stanza");`
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

// "class: message", the form printed to users.
std::string ToString(const Error& error);

}  // namespace xgw

// Propagates an error from an expression returning Result<T>, or yields its
// value otherwise. Usage: XGW_TRY(auto n, source.Read(buf)); The error keeps
// its type, so the same macros serve any tl::expected whose error converts
// to the caller's (e.g. the gateway's ServiceResult, which takes an Error).
#define XGW_CONCAT_INNER(a, b) a##b
#define XGW_CONCAT(a, b) XGW_CONCAT_INNER(a, b)
#define XGW_TRY(decl, expr) XGW_TRY_IMPL(XGW_CONCAT(xgw_try_, __LINE__), decl, expr)
#define XGW_TRY_IMPL(tmp, decl, expr)                        \
  auto tmp = (expr);                                         \
  if (!tmp) return tl::make_unexpected(std::move(tmp).error()); \
  decl = std::move(*tmp)
// For Result<void> (or any expected<void, E>).
#define XGW_CHECK(expr)                                                   \
  do {                                                                    \
    auto xgw_check_r = (expr);                                            \
    if (!xgw_check_r) return tl::make_unexpected(std::move(xgw_check_r).error()); \
  } while (0)

#endif  // XGW_CRYPTO_ERROR_H_

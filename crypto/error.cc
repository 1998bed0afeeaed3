#include "crypto/error.h"

namespace xgw {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kArmor: return "armor";
    case ErrorCode::kHeader: return "header";
    case ErrorCode::kNoMatch: return "no_match";
    case ErrorCode::kHmac: return "hmac";
    case ErrorCode::kPayload: return "payload";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kTrailingData: return "trailing_data";
    case ErrorCode::kKey: return "key";
    case ErrorCode::kSignature: return "signature";
    case ErrorCode::kFormat: return "format";
    case ErrorCode::kPolicy: return "policy";
    case ErrorCode::kLimit: return "limit";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string ToString(const Error& error) {
  std::string out(ErrorCodeName(error.code));
  out += ": ";
  out += error.message;
  return out;
}

}  // namespace xgw

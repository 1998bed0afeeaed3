// The stored form of an audit event: its canonical JSON bytes with the
// field names, fixed values, the 64-hex-digit protocol version and the
// timestamp's digits packed into codes. The leaf hash is always over the
// canonical bytes; the stored form only saves space (~45 % of a typical
// event) and decodes back to exactly those bytes.
//
// Format: either the canonical JSON itself (it starts with '{'; rows written
// before the codec, or anything the encoder cannot reproduce exactly), or
// 0x01 followed by the v1 code stream: a byte >= 0x20 stands for itself
// (canonical JSON never holds a raw byte below 0x20), 0x02 + 32 bytes for 64
// lower-case hex digits, 0x03 + 9 bytes for a packed time
// "DDDD-DD-DDTDD:DD:DD.DDDZ" (17 digits as nibbles, the last one padded),
// 0x04..0x1f for one of the fixed strings in event_codec.cc. Docs:
// docs/audit-log.md, "Event encoding".
#ifndef XGW_AUDIT_EVENT_CODEC_H_
#define XGW_AUDIT_EVENT_CODEC_H_

#include <string>
#include <string_view>

#include "crypto/error.h"

namespace xgw {

// The stored form of canonical event bytes (the bytes themselves if the
// code stream would not decode back to them exactly).
std::string EncodeStoredEvent(std::string_view canonical);

// Appends the canonical bytes of a stored form to `out`. kCorrupt for a
// code stream that does not decode (truncated, unknown code).
Result<void> DecodeStoredEvent(std::string_view stored, std::string& out);

}  // namespace xgw

#endif  // XGW_AUDIT_EVENT_CODEC_H_

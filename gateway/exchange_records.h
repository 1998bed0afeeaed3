// The records the protocol and exchange services and their metadata store
// pass between them: an exchange's row, a protocol as stored, list cursors.
// Plain data; no SQL and no HTTP.
#ifndef XGW_GATEWAY_EXCHANGE_RECORDS_H_
#define XGW_GATEWAY_EXCHANGE_RECORDS_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/lifecycle.h"

namespace xgw {

inline constexpr std::string_view kExchangePrefix = "exc";

inline Instant ToInstant(int64_t t) { return Instant(std::chrono::seconds(t)); }
inline int64_t FromInstant(Instant t) { return static_cast<int64_t>(t.time_since_epoch().count()); }

// [A-Za-z0-9_.-]{1,64}
inline bool IsProtocolId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

struct ExchangeRow {
  std::string id, protocol_id, version_hash, sender_org, sender_user, sender_party, mode, state;
  std::optional<std::string> manifest, manifest_signature;
  std::string signer;
  int64_t rows = 0, byte_size = 0;
  std::optional<int64_t> size;
  int64_t created_at = 0;
  std::optional<int64_t> delivered_at, first_download_at, acknowledged_at, expires_at, deleted_at;
  std::optional<std::string> deleted_reason;
};

// An exchange whose ciphertext is held and may be downloaded.
inline bool IsLive(std::string_view state) { return state == "available" || state == "acknowledged"; }

// Listings come in (created_at, id) order; a page's position is that of
// its last row.
struct ListCursor {
  int64_t created_at = 0;
  std::string id;
};

// One party's acceptance of one protocol version.
struct StoredAcceptance {
  std::string party, version_hash, accepted_by;  // accepted_by: "" for acceptances from schema 2
  int64_t at = 0;
};

// A protocol as the store holds it: its version in force (or, while only
// proposed, its first version), its parties over every version, and the
// amendment waiting for acceptances if there is one. Documents are the exact
// canonical JSON that was proposed; parsing them is the registry's business.
struct StoredProtocol {
  std::string id, version_hash, document;
  ProtocolState state = ProtocolState::kProposed;
  int64_t proposed_at = 0;
  std::optional<int64_t> activated_at, suspended_at, terminated_at;
  std::map<std::string, std::string> party_org;  // party id -> gateway org id
  std::vector<StoredAcceptance> acceptances;     // of version_hash
  struct Pending {
    std::string version_hash, document, proposed_by;  // proposed_by: "" for versions from schema 2
    int64_t proposed_at = 0;
    std::vector<StoredAcceptance> acceptances;
  };
  std::optional<Pending> pending;
};

// One version of a protocol, as GET .../versions lists it.
struct StoredVersion {
  std::string version_hash, document, state, proposed_by;
  int64_t proposed_at = 0;
  std::optional<int64_t> activated_at, ended_at;
  std::vector<StoredAcceptance> acceptances;  // ordered by party
};

}  // namespace xgw

#endif  // XGW_GATEWAY_EXCHANGE_RECORDS_H_

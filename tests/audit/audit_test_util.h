// Shared helpers for the audit tests: a temporary directory, a fixed signing
// key and event factories. Events carry only opaque ids, never personal data.
#ifndef XGW_TESTS_AUDIT_AUDIT_TEST_UTIL_H_
#define XGW_TESTS_AUDIT_AUDIT_TEST_UTIL_H_

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "crypto/merkle.h"
#include "crypto/sign.h"
#include "audit/audit_log.h"
#include "audit/audit_store.h"

namespace xgw::testing {

inline constexpr const char* kOrigin = "xgw.test/log";

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("xgw-audit-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::shared_ptr<const Ed25519SecretKey> FixedKey(uint8_t first = 0) {
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < 32; ++i) seed[i] = static_cast<uint8_t>(first + i);
  return std::make_shared<const Ed25519SecretKey>(*Ed25519SecretKey::FromSeed(seed));
}

inline AuditLogOptions Options() {
  AuditLogOptions o;
  o.origin = kOrigin;
  o.signing_key = FixedKey();
  return o;
}

inline AuditEvent UserEvent(int i, AuditAction action = AuditAction::kExchangeDownloaded) {
  AuditEvent e;
  e.time_ms = 1727474399000 + i;  // 2024-09-27T21:59:59Z
  e.actor = {ActorType::kUser, "u-" + std::to_string(i % 7), "org-" + std::to_string(i % 3)};
  e.action = action;
  e.outcome = AuditOutcome::kSuccess;
  e.protocol_id = "2024_VB_00591";
  e.protocol_version = std::string(64, 'a');
  e.exchange_id = "x-" + std::to_string(i % 10);
  e.orgs = {"org-thuispunt"};
  e.client_address = "192.0.2.7";
  e.request_id = "req-" + std::to_string(i);
  return e;
}

inline AuditEvent DeletionEvent(const std::string& exchange, int64_t time_ms) {
  AuditEvent e;
  e.time_ms = time_ms;
  e.actor = {ActorType::kSystem, "sweeper", ""};
  e.action = AuditAction::kExchangeDeletedExpiry;
  e.outcome = AuditOutcome::kSuccess;
  e.reason = "retention_expired";
  e.exchange_id = exchange;
  e.orgs = {"org-ocmw-gent", "org-thuispunt"};
  return e;
}

// The full tiles of a tree, as the store holds them (audit_store.h): what an
// attacker who recomputes the tree writes back.
inline std::vector<AuditTile> TilesOf(const MerkleTree& tree) {
  std::vector<AuditTile> out;
  const auto& levels = tree.levels();
  for (size_t l = 0; l < levels.size(); l += kAuditTileHeight) {
    for (uint64_t i = 0; i < levels[l].size() / kAuditTileWidth; ++i) {
      AuditTile t{static_cast<unsigned>(l / kAuditTileHeight), i, {}};
      for (uint64_t k = 0; k < kAuditTileWidth; ++k) {
        t.hashes.append(reinterpret_cast<const char*>(levels[l][i * kAuditTileWidth + k].data()), 32);
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

}  // namespace xgw::testing

#endif  // XGW_TESTS_AUDIT_AUDIT_TEST_UTIL_H_

// Protocols, exchanges, the retention sweeper and their REST resources
// (contract: docs/api.yaml; design: /work/shared/DESIGN.md and
// docs/architecture.md). gateway/exchange_impl.h says which file holds which
// part: the services reach the database only through MetadataStore and the
// ciphertexts only through BlobStore.
//
// An exchange becomes visible ("available") only in the transaction that
// follows its blob's durable publication, so a crash leaves either nothing
// or a complete exchange; the sweeper removes leftovers at start-up.
//
// Fail closed: every exchange action (upload, download, ack, revoke, delete)
// appends its audit event first and is refused with 503 if that fails.
//
// Thread safety: handlers run on the blocking pool concurrently; the
// sweeper is one thread.
#ifndef XGW_GATEWAY_EXCHANGE_SERVICE_H_
#define XGW_GATEWAY_EXCHANGE_SERVICE_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "config/config.h"
#include "crypto/error.h"
#include "crypto/sign.h"
#include "gateway/clock.h"
#include "gateway/database.h"
#include "gateway/durable_audit.h"
#include "gateway/identity_store.h"
#include "gateway/metrics.h"
#include "gateway/http/router.h"
#include "policy/protocol.h"

namespace xgw {

struct SweepStats {
  uint64_t deleted = 0;    // expired exchanges deleted
  uint64_t discarded = 0;  // pending uploads discarded
  uint64_t orphans = 0;    // blob files without a live exchange removed
  int64_t lag_seconds = 0; // now - oldest expires_at still undeleted (0 if none)
};

class ExchangeService {
 public:
  struct Deps {
    std::shared_ptr<const Config> config;  // state_dir, exchanges.* (restart-only keys)
    IdentityStore& identities;
    DurableAuditSink& audit;
    Clock& clock;
    Metrics& metrics;
    std::shared_ptr<const Ed25519SecretKey> gateway_key;
    ReadPool& readers;  // the daemon's one pool of read connections to the gateway database
  };
  // Opens the metadata store on the gateway database (migrations are
  // applied by the identity store) and the blob store (blobs/, blobs/tmp/).
  static Result<std::unique_ptr<ExchangeService>> Open(Deps deps);
  ~ExchangeService();

  void RegisterRoutes(Router& router);

  // One pass of the retention sweeper. `startup`: also discards every temp
  // blob (no upload can be in flight yet).
  Result<SweepStats> SweepOnce(bool startup);
  // Starts the sweeper thread (catches up first); Stop joins it.
  void StartSweeper();
  void StopSweeper();
  void WakeSweeper();

  // The roles the registered protocols (any state) name for receivers of
  // organisation `org_id`: what a user of it needs to receive anything.
  Result<std::set<std::string>> RolesNamedFor(const std::string& org_id);

  struct Impl;

 private:
  explicit ExchangeService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_EXCHANGE_SERVICE_H_

// The retention sweeper: deletes expired exchanges (audit first, the event
// naming the rule that expired each), expires protocols past their validity,
// prunes subject-index values past their accountability period, discards
// uploads never completed and removes ciphertexts no live exchange owns.
// One thread; a pass stops where the audit log refuses an event, and the
// next pass goes on from there.
#include <algorithm>
#include <cstdio>
#include <set>

#include "gateway/exchange_impl.h"

namespace xgw {

// What one step of a sweep pass removes, and how it is recorded.
struct ExchangeService::Impl::SweepStep {
  ExchangeFilter filter;
  AuditAction action;
  std::string event_reason;
  const char* state;       // the row's state afterwards
  const char* row_reason;  // its deleted_reason
  const char* metric;      // xgw_deletions_total{reason}
  bool parties_concerned;  // the event names every party, not only the sender
  // If true, event_reason and row_reason are each row's own cause
  // (DeletionCause) instead: which retention rule expired it.
  bool reason_per_row = false;
};

namespace {

// Rows a sweep pass reads per query.
constexpr int64_t kSweepBatch = 256;

}  // namespace

// Every exchange matching the step, a bounded batch per query (each one
// leaves the selection once done): audited, then its data deleted. The
// event is written once: a pass that stopped between an event and its
// deletion (a crash, a restored database) finds the event of the earlier
// pass. Stops, to go on at the next pass, when the audit log refuses an
// event (nothing is deleted unaudited). Returns how many were removed.
Result<uint64_t> ExchangeService::Impl::SweepExchanges(const SweepStep& step, int64_t now) {
  uint64_t removed = 0;
  for (bool more = true; more;) {
    XGW_TRY(auto rows, store->ListExchanges(step.filter, std::nullopt, kSweepBatch));
    more = static_cast<int64_t>(rows.size()) == kSweepBatch;
    const uint64_t removed_before = removed;
    for (const auto& e : rows) {
      // An upload completing this exchange right now holds its claim: it
      // is left to that upload (the next pass sees how it ended). Once
      // claimed, the row is read again: an upload may have completed it
      // since the batch was read.
      const std::optional<Claim> claim = TryClaim(e.id);
      if (!claim) continue;
      XGW_TRY(auto now_row, LoadExchange(e.id));
      if (!now_row || now_row->state != e.state) continue;
      const std::string cause = step.reason_per_row ? DeletionCause(*now_row) : "";
      AuditEvent ev;
      ev.time_ms = now * 1000;
      ev.actor = {ActorType::kSystem, "sweeper", ""};
      ev.action = step.action;
      ev.reason = step.reason_per_row ? cause : step.event_reason;
      ev.exchange_id = e.id;
      ev.protocol_id = e.protocol_id;
      ev.protocol_version = e.version_hash;
      ev.orgs.push_back(e.sender_org);
      if (step.parties_concerned) {
        if (auto pr = LoadProtocol(e.protocol_id); pr && *pr) {
          for (const auto& [party, org] : (*pr)->party_org) ev.orgs.push_back(org);
        }
        std::sort(ev.orgs.begin(), ev.orgs.end());
        ev.orgs.erase(std::unique(ev.orgs.begin(), ev.orgs.end()), ev.orgs.end());
      }
      XGW_TRY(bool recorded, AlreadyAudited(e.id, step.action));
      if (!recorded && !deps.audit.AppendEvent(ev)) return removed;  // fail closed
      XGW_CHECK(DeleteExchangeData(e.id, step.state, step.reason_per_row ? cause : step.row_reason, now));
      deps.metrics.CountDeletion(step.metric);
      ++removed;
    }
    if (removed == removed_before) break;  // all claimed by uploads: the next pass
  }
  return removed;
}

// Removes the subject-index values of lists deleted more than
// exchanges.subject_index_retention_days ago; at most once an hour.
Result<void> ExchangeService::Impl::PruneSubjectIndex(int64_t now) {
  const int64_t retention = static_cast<int64_t>(config().exchanges.subject_index_retention_days) * 86400;
  std::lock_guard lock(prune_mu);
  if (last_subject_prune && now - *last_subject_prune < 3600 && now >= *last_subject_prune) return {};
  last_subject_prune = now;
  return store->PruneSubjects(now - retention);
}

// Temp blobs at start-up (nothing can be uploading), and final blobs whose
// exchange is not live (a crash between rename and commit).
Result<uint64_t> ExchangeService::Impl::RemoveOrphanBlobs(bool startup) {
  XGW_TRY(auto states, store->OpenExchangeStates());
  uint64_t orphans = 0;
  if (startup) {
    if (auto n = blobs->DiscardAllPending()) orphans += *n;
  }
  auto ids = blobs->List();
  if (!ids) return orphans;  // unreadable now: the next pass decides
  std::vector<std::string> victims;
  for (const auto& id : *ids) {
    const auto known = states.find(id);
    if (known != states.end() && IsLive(known->second)) continue;
    // The snapshot above can be stale: an upload completes by publishing
    // its blob and then committing "available" (a one-request upload only
    // then inserts its row), possibly between the snapshot and the
    // listing. A blob being published is left alone; otherwise its
    // publication is over (the blob was listed, so it had begun), and the
    // row read now says whether it succeeded.
    if (IsClaimed(id)) continue;
    auto row = LoadExchange(id);
    if (!row) continue;  // cannot tell now: keep it, the next pass decides
    if (*row && IsLive((*row)->state)) continue;
    victims.push_back(id);
  }
  if (auto n = blobs->RemoveOrphans(victims)) orphans += *n;
  return orphans;
}

// Chunk directories of exchanges no longer pending (an upload finalized or
// discarded, and a crash before its chunks were removed), and at start-up,
// when no chunk is being written, files no chunk record names (a crash
// between a chunk's file and its record, or a temporary file).
Result<uint64_t> ExchangeService::Impl::RemoveOrphanChunks(bool startup) {
  auto dirs = chunks->Exchanges();
  if (!dirs) return 0;  // unreadable now: the next pass decides
  uint64_t removed = 0;
  for (const auto& id : *dirs) {
    XGW_TRY(auto row, LoadExchange(id));
    if (!row || row->state != "pending") {
      if (IsClaimed(id)) continue;  // being finalized: it removes its chunks itself
      XGW_CHECK(store->DeleteChunks(id));
      XGW_CHECK(chunks->RemoveAll(id));
      ++removed;
      continue;
    }
    if (!startup) continue;
    XGW_TRY(auto records, store->ListChunks(id));
    std::set<std::string> named;
    for (const auto& c : records) named.insert(c.file);
    XGW_TRY(auto files, chunks->Files(id));
    for (const auto& f : files) {
      if (named.count(f)) continue;
      chunks->Remove(id, f);
      ++removed;
    }
  }
  return removed;
}

Result<SweepStats> ExchangeService::Impl::SweepOnce(bool startup) {
  SweepStats stats;
  const int64_t now = Now();
  // 1. Expired exchanges: deleted, the event shown to every party's DPO,
  // its reason the rule that expired it (a date, a time after delivery or
  // first download, an acknowledgement, a termination). A deletion caught
  // up at start-up carries its cause too; its time shows it came late.
  XGW_TRY(stats.deleted, SweepExchanges({.filter = {ExchangeFilter::Set::kExpiredBy, now, ""},
                                         .action = AuditAction::kExchangeDeletedExpiry,
                                         .event_reason = "retention_expired",
                                         .state = "deleted",
                                         .row_reason = "retention_expired",
                                         .metric = "expiry",
                                         .parties_concerned = true,
                                         .reason_per_row = true},
                                        now));
  // 1b. Protocols whose validity period is over become expired, recorded
  // like every other transition (sends were already refused by the dates).
  XGW_CHECK(ExpireProtocols(now));
  // 1c. Subject-index values past their accountability period.
  XGW_CHECK(PruneSubjectIndex(now));
  // 2. Pending uploads that were never completed (never delivered: the
  // sender's organisation alone is concerned).
  const int64_t pending_bound = now - static_cast<int64_t>(config().exchanges.pending_timeout_seconds);
  XGW_TRY(stats.discarded, SweepExchanges({.filter = {ExchangeFilter::Set::kPendingSince, pending_bound, ""},
                                           .action = AuditAction::kExchangeDiscarded,
                                           .event_reason = "upload_timeout",
                                           .state = "discarded",
                                           .row_reason = "upload_timeout",
                                           .metric = "pending_timeout",
                                           .parties_concerned = false},
                                          now));
  // 3. Orphaned files.
  XGW_TRY(stats.orphans, RemoveOrphanBlobs(startup));
  XGW_TRY(const uint64_t chunk_orphans, RemoveOrphanChunks(startup));
  stats.orphans += chunk_orphans;
  for (uint64_t i = 0; i < stats.orphans; ++i) deps.metrics.CountDeletion("orphan");
  // 4. Lag: the oldest expired exchange still present.
  XGW_TRY(auto oldest, store->OldestExpiryLeft(Now()));
  if (oldest) stats.lag_seconds = std::max<int64_t>(0, now - *oldest);
  deps.metrics.SetSweeperLagSeconds(stats.lag_seconds);
  RefreshLive();
  return stats;
}

void ExchangeService::Impl::StartSweeper() {
  if (auto r = SweepOnce(true); !r) {
    std::fprintf(stderr, "xgwd: sweeper start-up pass failed: %s\n", ToString(r.error()).c_str());
  }
  sweeper = std::thread([this] {
    std::unique_lock lock(sweep_mu);
    while (!stop) {
      sweep_cv.wait_for(lock, std::chrono::seconds(config().exchanges.sweep_interval_seconds),
                        [this] { return stop || wake; });
      if (stop) break;
      wake = false;
      lock.unlock();
      if (auto r = SweepOnce(false); !r) {
        std::fprintf(stderr, "xgwd: sweeper pass failed: %s\n", ToString(r.error()).c_str());
      }
      lock.lock();
    }
  });
}

void ExchangeService::Impl::StopSweeper() {
  {
    std::lock_guard lock(sweep_mu);
    stop = true;
  }
  sweep_cv.notify_all();
  if (sweeper.joinable()) sweeper.join();
}

void ExchangeService::Impl::WakeSweeper() {
  {
    std::lock_guard lock(sweep_mu);
    wake = true;
  }
  sweep_cv.notify_all();
}

}  // namespace xgw

// ExchangeService: opens the stores and wires the protocol registry, the
// exchange and upload services, the sweeper and their REST resources
// (gateway/exchange_impl.h says which file holds which part).
#include "gateway/exchange_service.h"

#include "gateway/exchange_impl.h"
#include "gateway/segment_blob_store.h"
#include "gateway/identity_rules.h"
#include "gateway/ids.h"
#include "gateway/sqlite_metadata_store.h"

namespace xgw {

ExchangeService::ExchangeService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExchangeService::~ExchangeService() { StopSweeper(); }

Result<std::unique_ptr<ExchangeService>> ExchangeService::Open(Deps deps) {
  auto impl = std::make_unique<Impl>(std::move(deps));
  XGW_TRY(impl->store, SqliteMetadataStore::Open(impl->config().DatabasePath(), impl->deps.readers));
  XGW_TRY(impl->blobs, OpenBlobStore(impl->config().BlobDir(), impl->config().exchanges.packed_blob_max_bytes));
  impl->spool_dir = impl->config().BlobDir() + "/tmp";
  XGW_TRY(impl->chunks, ChunkFiles::Open(impl->config().state_dir + "/chunks"));
  impl->RefreshLive();
  return std::unique_ptr<ExchangeService>(new ExchangeService(std::move(impl)));
}

void ExchangeService::RegisterRoutes(Router& router) {
  router.AddIdParameter("exchange", std::string(kExchangePrefix));
  RegisterAdminRoutes(router, *impl_);
  RegisterProtocolRoutes(router, *impl_);
  RegisterUploadRoutes(router, *impl_);
  RegisterExchangeRoutes(router, *impl_);
  RegisterUploadChunkRoutes(router, *impl_);
}

Result<SweepStats> ExchangeService::SweepOnce(bool startup) { return impl_->SweepOnce(startup); }
void ExchangeService::StartSweeper() { impl_->StartSweeper(); }
void ExchangeService::StopSweeper() { impl_->StopSweeper(); }
void ExchangeService::WakeSweeper() { impl_->WakeSweeper(); }

Result<std::set<std::string>> ExchangeService::RolesNamedFor(const std::string& org_id) {
  Caller all;  // an operator's view: every protocol
  all.principal.emplace();
  all.principal->roles = {std::string(kRoleOperator)};
  auto records = impl_->ListProtocols(all);
  if (!records) return Fail(ErrorCode::kInternal, "the protocols could not be read");
  std::set<std::string> roles;
  for (const ProtocolRecord& r : *records) {
    for (const RecipientRule& rule : r.protocol->recipients) {
      auto party = r.party_org.find(rule.organisation);
      if (party == r.party_org.end() || party->second != org_id) continue;
      roles.insert(rule.roles.begin(), rule.roles.end());
    }
  }
  return roles;
}

}  // namespace xgw

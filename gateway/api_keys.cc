// Key custody routes: a person's passphrase-wrapped identity file kept on
// the gateway (which cannot open it), and the history of their public keys.
//
//   PUT    /api/v1/users/{user}/key-backup     the user themself
//   GET    /api/v1/users/{user}/key-backup     the user themself (not even an operator)
//   DELETE /api/v1/users/{user}/key-backup     operator; the user themself
//   GET    /api/v1/users/{user}/keys/history   operator; DPO of the user's organisation; the user
//
// Storing and deleting are recorded before they commit (key.backup_stored /
// key.backup_deleted); every fetch is recorded (key.backup_fetched) before
// the file is handed out, and not handed out if that fails. The events name
// the user and their organisation, so the organisation's DPO sees them.
#include "gateway/api_keys.h"

#include "crypto/keyfile.h"
#include "gateway/api_support.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {
namespace {

using nlohmann::json;

// An armored identity file of a few keys is well under 4 KiB; room for many
// rotations, nowhere near a list.
constexpr uint64_t kMaxBackupBody = 64 * 1024;

Result<std::string> BackupFile(const json& body) {
  if (!body.is_object() || body.size() != 1 || !body.contains("file") || !body["file"].is_string())
    return Fail(ErrorCode::kInvalidArgument, "the body must be {\"file\": \"<armored age file>\"} and nothing else");
  return body["file"].get<std::string>();
}

Response NoStore(Response r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// PUT /api/v1/users/{user}/key-backup
Result<Response> PutBackup(IdentityStore& store, RequestContext& ctx, const json& body) {
  XGW_TRY(auto file, BackupFile(body));
  XGW_TRY(auto backup, store.PutKeyBackup(ctx.target_user_id, file, ctx.now, ctx.record_change));
  return JsonResponse(200, {{"user_id", ctx.target_user_id}, {"updated_at", FormatTime(backup.updated_at)}});
}

// GET /api/v1/users/{user}/key-backup
Result<Response> GetBackup(Router& router, RequestContext& ctx) {
  XGW_TRY(auto backup, router.store().GetKeyBackup(ctx.target_user_id));
  RequestRecord rec = RecordOfRequest(ctx);
  rec.event = "key.backup_fetched";
  rec.outcome = "allowed";
  rec.status = 200;
  if (!router.audit().Append(rec))
    return Fail(ErrorCode::kUnavailable, "the audit log cannot record the fetch now; try again later");
  return NoStore(JsonResponse(200, {{"user_id", ctx.target_user_id},
                                    {"file", backup.file},
                                    {"updated_at", FormatTime(backup.updated_at)}}));
}

// DELETE /api/v1/users/{user}/key-backup
Result<Response> DeleteBackup(IdentityStore& store, RequestContext& ctx) {
  XGW_CHECK(store.DeleteKeyBackup(ctx.target_user_id, ctx.record_change));
  return JsonResponse(200, {{"user_id", ctx.target_user_id}, {"deleted", true}});
}

// GET /api/v1/users/{user}/keys/history
Result<Response> History(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto entries, store.KeyHistory(ctx.target_user_id));
  json items = json::array();
  for (const auto& e : entries) {
    items.push_back({{"age_recipient", e.age_recipient},
                     {"fingerprint", age::KeyFingerprint(e.age_recipient)},
                     {"ed25519_verify_key", e.ed25519_verify_key},
                     {"from", FormatTime(e.from)},
                     {"until", e.until ? json(FormatTime(*e.until)) : json(nullptr)}});
  }
  return JsonResponse(200, {{"items", items}});
}

}  // namespace

void RegisterKeyRoutes(Router& router) {
  IdentityStore& store = router.store();
  const Grant self{"*", Scope::kSelf};
  const Grant op{std::string(kRoleOperator), Scope::kAny};
  const Grant dpo_same_org{std::string(kRoleDpo), Scope::kSameOrg};
  router.Add({.method = "PUT", .pattern = "/api/v1/users/{user}/key-backup", .grants = {self},
              .target = TargetKind::kUser, .target_param = "user", .body = BodyKind::kJson,
              .max_body_bytes = kMaxBackupBody,
              .handler = [&store](RequestContext& ctx, const json& body) {
                return Handle(ctx, [&] { return PutBackup(store, ctx, body); });
              },
              .audit_first = true});
  router.Add({.method = "GET", .pattern = "/api/v1/users/{user}/key-backup", .grants = {self},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = [&router](RequestContext& ctx, const json&) {
                return Handle(ctx, [&] { return GetBackup(router, ctx); });
              }});
  router.Add({.method = "DELETE", .pattern = "/api/v1/users/{user}/key-backup", .grants = {op, self},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = [&store](RequestContext& ctx, const json&) {
                return Handle(ctx, [&] { return DeleteBackup(store, ctx); });
              },
              .audit_first = true});
  router.Add({.method = "GET", .pattern = "/api/v1/users/{user}/keys/history", .grants = {op, dpo_same_org, self},
              .target = TargetKind::kUser, .target_param = "user",
              .handler = [&store](RequestContext& ctx, const json&) {
                return Handle(ctx, [&] { return History(store, ctx); });
              }});
}

}  // namespace xgw

#include "gateway/api_identities.h"

#include <initializer_list>

#include "crypto/keyfile.h"
#include "crypto/secret.h"
#include "gateway/api_health.h"
#include "gateway/api_keys.h"
#include "gateway/api_support.h"
#include "gateway/identity_rules.h"
#include "gateway/http/problem.h"

namespace xgw {
namespace {

using nlohmann::json;

// Request-body field access that names the field, never the value.
Result<void> OnlyFields(const json& body, std::initializer_list<const char*> allowed) {
  if (!body.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool known = false;
    for (const char* k : allowed) known = known || it.key() == k;
    if (!known) {
      std::string allowed_list;
      for (const char* k : allowed) allowed_list += (allowed_list.empty() ? "" : ", ") + std::string(k);
      // Field names come from the client but are structure, not data; cap them anyway.
      std::string name = it.key().substr(0, 40);
      for (char& c : name) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
      }
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown field '" + name + "'; this endpoint accepts: " + allowed_list);
    }
  }
  return {};
}

Result<std::optional<std::string>> OptString(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": expected a string");
  }
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> RequiredString(const json& body, const char* key) {
  XGW_TRY(auto v, OptString(body, key));
  if (!v) return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": required");
  return *v;
}

Result<std::vector<std::string>> StringArray(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end()) {
    if (required) return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": required");
    return std::vector<std::string>();
  }
  if (!it->is_array()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": expected an array of strings");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(key) + "[" + std::to_string(i) + "]: expected a string");
    }
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

json OptJson(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json OptTime(const std::optional<int64_t>& v) { return v ? json(FormatTime(*v)) : json(nullptr); }

json OrgJson(const Organisation& o) {
  json pins = json::array();
  for (const auto& p : o.client_cert_pins) pins.push_back("sha256:" + p);
  return {{"id", o.id},
          {"name", o.name},
          {"enterprise_number", OptJson(o.enterprise_number)},
          {"dpo_contact", OptJson(o.dpo_contact)},
          {"client_cert_pins", pins},
          {"time_zone", o.time_zone},
          {"created_at", FormatTime(o.created_at)}};
}

json PinJson(const std::string& hex) {
  return {{"id", hex}, {"pin", "sha256:" + hex}, {"pin_base64", PinBase64Form(hex)}};
}

json UserJson(const User& u) {
  json keys = nullptr;
  if (u.keys) {
    keys = {{"age_recipient", u.keys->age_recipient},
            {"fingerprint", age::KeyFingerprint(u.keys->age_recipient)},
            {"ed25519_verify_key", u.keys->ed25519_verify_key},
            {"updated_at", FormatTime(u.keys->updated_at)}};
  }
  return {{"id", u.id},           {"org_id", u.org_id}, {"display_name", u.display_name},
          {"roles", u.roles},     {"keys", keys},       {"created_at", FormatTime(u.created_at)}};
}

json TokenJson(const TokenInfo& t, int64_t now) {
  const char* state = t.revoked_at ? "revoked" : t.expires_at <= now ? "expired" : "active";
  return {{"id", t.id},
          {"user_id", t.user_id},
          {"label", OptJson(t.label)},
          {"state", state},
          {"created_at", FormatTime(t.created_at)},
          {"expires_at", FormatTime(t.expires_at)},
          {"revoked_at", OptTime(t.revoked_at)},
          {"last_used_at", OptTime(t.last_used_at)}};
}

// 200 with {"items": [to_json(x) for each x of xs]}.
template <typename Range, typename ToJson>
Response ItemsResponse(const Range& xs, ToJson to_json) {
  json items = json::array();
  for (const auto& x : xs) items.push_back(to_json(x));
  return JsonResponse(200, {{"items", items}});
}

// GET /api/v1/me
Result<Response> Me(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto user, store.GetUser(ctx.principal->user_id));
  XGW_TRY(auto org, store.GetOrganisation(user.org_id));
  json j = UserJson(user);
  j["organisation"] = {{"id", org.id}, {"name", org.name}, {"time_zone", org.time_zone}};
  j["token_id"] = ctx.principal->token_id;
  // Which credential this request used: an API token or a person's session.
  const bool session = ctx.principal->token_id.rfind("ses-", 0) == 0;
  j["credential"] = {{"type", session ? "session" : "api_token"},
                     {"id", ctx.principal->token_id},
                     {"expires_at", ctx.principal->expires_at ? json(FormatTime(ctx.principal->expires_at)) : json(nullptr)}};
  // Whether the gateway keeps a wrapped key backup for the person (not the file).
  auto backup = store.GetKeyBackup(user.id);
  if (!backup && backup.error().code != ErrorCode::kNotFound) return tl::unexpected(backup.error());
  j["key_backup"] = backup ? json{{"updated_at", FormatTime(backup->updated_at)}} : json(nullptr);
  return JsonResponse(200, j);
}

// POST /api/v1/orgs
Result<Response> CreateOrganisation(IdentityStore& store, RequestContext& ctx, const json& body) {
  XGW_CHECK(OnlyFields(body, {"name", "enterprise_number", "dpo_contact", "client_cert_pins", "time_zone"}));
  NewOrganisation in;
  XGW_TRY(in.name, RequiredString(body, "name"));
  XGW_TRY(in.enterprise_number, OptString(body, "enterprise_number"));
  XGW_TRY(in.dpo_contact, OptString(body, "dpo_contact"));
  XGW_TRY(in.client_cert_pins, StringArray(body, "client_cert_pins", false));
  XGW_TRY(in.time_zone, OptString(body, "time_zone"));
  XGW_TRY(auto org, store.CreateOrganisation(in, ctx.now, ctx.created_id, ctx.record_change));
  Response r = JsonResponse(201, OrgJson(org));
  r.headers.emplace_back("Location", "/api/v1/orgs/" + org.id);
  return r;
}

// GET /api/v1/orgs
Result<Response> ListOrganisations(IdentityStore& store, RequestContext&) {
  XGW_TRY(auto orgs, store.ListOrganisations());
  return ItemsResponse(orgs, OrgJson);
}

// GET /api/v1/orgs/{org}
Result<Response> GetOrganisation(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto org, store.GetOrganisation(ctx.target_org_id));
  return JsonResponse(200, OrgJson(org));
}

// GET /api/v1/orgs/{org}/client-pins
Result<Response> ListClientPins(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto org, store.GetOrganisation(ctx.target_org_id));
  return ItemsResponse(org.client_cert_pins, PinJson);
}

// POST /api/v1/orgs/{org}/client-pins
Result<Response> AddClientPin(IdentityStore& store, RequestContext& ctx, const json& body) {
  XGW_CHECK(OnlyFields(body, {"pin"}));
  XGW_TRY(auto text, RequiredString(body, "pin"));
  XGW_TRY(auto r, store.AddClientPin(ctx.target_org_id, text, ctx.record_change));
  Response resp = JsonResponse(r.added ? 201 : 200, PinJson(r.pin));
  resp.headers.emplace_back("Location", "/api/v1/orgs/" + r.org.id + "/client-pins/" + r.pin);
  return resp;
}

// DELETE /api/v1/orgs/{org}/client-pins/{pin}
Result<Response> RemoveClientPin(IdentityStore& store, RequestContext& ctx) {
  // The router checked the syntax already.
  const std::string pin = NormalisePinId(ctx.params.at("pin")).value_or("");
  XGW_CHECK(store.RemoveClientPin(ctx.target_org_id, pin, ctx.record_change).map([](auto&&) {}));
  json j = PinJson(pin);
  j["removed"] = true;
  return JsonResponse(200, j);
}

// The answer's "warnings": each role of `user` no protocol names for
// receivers of the user's organisation (the system roles aside). A warning,
// not a refusal: an operator may register people before the protocol that
// will name their role, and a typo is then seen at once.
json RoleWarnings(const User& user, const ProtocolRoles& protocol_roles) {
  json warnings = json::array();
  if (!protocol_roles) return warnings;
  auto named = protocol_roles(user.org_id);
  if (!named) return warnings;
  for (const auto& role : user.roles) {
    if (role == kRoleOperator || role == kRoleDpo || role == kRoleSender || named->count(role) != 0) continue;
    warnings.push_back("role '" + role + "' is named by no protocol of this organisation: with it alone, " +
                       "this user receives no list until a protocol names it");
  }
  return warnings;
}

// POST /api/v1/orgs/{org}/users
Result<Response> CreateUser(IdentityStore& store, const ProtocolRoles& protocol_roles, RequestContext& ctx,
                            const json& body) {
  XGW_CHECK(OnlyFields(body, {"display_name", "roles"}));
  XGW_TRY(auto name, RequiredString(body, "display_name"));
  XGW_TRY(auto roles, StringArray(body, "roles", false));
  XGW_TRY(auto user,
          store.CreateUser(ctx.target_org_id, name, roles, ctx.now, ctx.created_id, ctx.record_change));
  json j = UserJson(user);
  j["warnings"] = RoleWarnings(user, protocol_roles);
  Response r = JsonResponse(201, j);
  r.headers.emplace_back("Location", "/api/v1/users/" + user.id);
  return r;
}

// GET /api/v1/orgs/{org}/users
Result<Response> ListUsers(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto users, store.ListUsers(ctx.target_org_id));
  return ItemsResponse(users, UserJson);
}

// GET /api/v1/users/{user}
Result<Response> GetUser(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto user, store.GetUser(ctx.target_user_id));
  return JsonResponse(200, UserJson(user));
}

// PUT /api/v1/users/{user}/roles
Result<Response> SetRoles(IdentityStore& store, const ProtocolRoles& protocol_roles, RequestContext& ctx,
                          const json& body) {
  XGW_CHECK(OnlyFields(body, {"roles"}));
  XGW_TRY(auto roles, StringArray(body, "roles", true));
  XGW_TRY(auto user, store.SetRoles(ctx.target_user_id, roles, ctx.record_change));
  json j = UserJson(user);
  j["warnings"] = RoleWarnings(user, protocol_roles);
  return JsonResponse(200, j);
}

// GET /api/v1/users/{user}/keys
// TODO(exchanges): senders fetch recipients' keys of other organisations
// through the protocol endpoints, which check the protocol's recipients.
Result<Response> GetKeys(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto user, store.GetUser(ctx.target_user_id));
  if (!user.keys) {
    return Fail(ErrorCode::kNotFound,
                "this user has not registered public keys yet (PUT "
                "/api/v1/users/{user}/keys)");
  }
  return JsonResponse(200, UserJson(user)["keys"]);
}

// PUT /api/v1/users/{user}/keys
Result<Response> SetKeys(IdentityStore& store, RequestContext& ctx, const json& body) {
  XGW_CHECK(OnlyFields(body, {"age_recipient", "ed25519_verify_key"}));
  XGW_TRY(auto age, RequiredString(body, "age_recipient"));
  XGW_TRY(auto ed, RequiredString(body, "ed25519_verify_key"));
  XGW_TRY(auto user, store.SetKeys(ctx.target_user_id, age, ed, ctx.now, ctx.record_change));
  return JsonResponse(200, UserJson(user)["keys"]);
}

// POST /api/v1/users/{user}/tokens: the secret is in this one answer only.
Result<Response> IssueToken(IdentityStore& store, RequestContext& ctx, const json& body) {
  XGW_CHECK(OnlyFields(body, {"ttl_seconds", "label"}));
  int64_t ttl = ctx.config->tokens.default_ttl_seconds;
  if (auto it = body.find("ttl_seconds"); it != body.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
        it->get<int64_t>() > ctx.config->tokens.max_ttl_seconds) {
      return Fail(ErrorCode::kInvalidArgument,
                  "ttl_seconds: give an integer from 1 to " + std::to_string(ctx.config->tokens.max_ttl_seconds));
    }
    ttl = it->get<int64_t>();
  }
  XGW_TRY(auto label, OptString(body, "label"));
  XGW_TRY(auto issued,
          store.IssueToken(ctx.target_user_id, ttl, label, ctx.now, ctx.created_id, ctx.record_change));
  json j = TokenJson(issued.info, ctx.now);
  j["token"] = issued.secret;
  WipeMemory(issued.secret.data(), issued.secret.size());
  Response r = JsonResponse(201, j);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// GET /api/v1/users/{user}/tokens
Result<Response> ListTokens(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto tokens, store.ListTokens(ctx.target_user_id));
  return ItemsResponse(tokens, [&](const TokenInfo& t) { return TokenJson(t, ctx.now); });
}

// DELETE /api/v1/tokens/{token}
Result<Response> RevokeToken(IdentityStore& store, RequestContext& ctx) {
  XGW_TRY(auto t, store.RevokeToken(ctx.params.at("token"), ctx.now, ctx.record_change));
  return JsonResponse(200, TokenJson(t, ctx.now));
}

using NoBody = Result<Response> (*)(IdentityStore&, RequestContext&);
using WithBody = Result<Response> (*)(IdentityStore&, RequestContext&, const json&);

// `spec` (method, pattern, grants, target) with a handler that runs `run` on
// the store. Each route is written below as a RouteSpec literal, method and
// pattern first, which is how tests/docs/check_api_yaml.py finds the routes
// docs/api.yaml must document.
RouteSpec Handled(IdentityStore& store, RouteSpec spec, NoBody run) {
  spec.handler = [&store, run](RequestContext& ctx, const json&) {
    return Handle(ctx, [&] { return run(store, ctx); });
  };
  return spec;
}

// The same for a route that takes a JSON object as its body.
RouteSpec Handled(IdentityStore& store, RouteSpec spec, WithBody run) {
  spec.body = BodyKind::kJson;
  spec.handler = [&store, run](RequestContext& ctx, const json& body) {
    return Handle(ctx, [&] { return run(store, ctx, body); });
  };
  return spec;
}

const Grant kOperator{std::string(kRoleOperator), Scope::kAny};

// A state-changing operator route. These handlers append no audit events of
// their own: each passes ctx.record_change to the store, which records the
// change just before committing it and rolls it back (503) if that fails
// (issue 5: no unaudited change).
void AddChange(Router& router, RouteSpec spec) {
  spec.audit_first = true;
  router.Add(std::move(spec));
}

// A change that creates something with an id of its own (`prefix`, ids.h):
// audited under the id the router chose, which the handler then gives it.
void AddCreation(Router& router, std::string_view prefix, RouteSpec spec) {
  spec.creates = prefix;
  AddChange(router, std::move(spec));
}

}  // namespace

void RegisterIdentityRoutes(Router& router, ProtocolRoles protocol_roles) {
  IdentityStore& s = router.store();
  // Routes whose answer also warns about roles no protocol names.
  const auto warned = [&s, protocol_roles](RouteSpec spec,
                                           Result<Response> (*run)(IdentityStore&, const ProtocolRoles&,
                                                                   RequestContext&, const json&)) {
    spec.body = BodyKind::kJson;
    spec.handler = [&s, protocol_roles, run](RequestContext& ctx, const json& body) {
      return Handle(ctx, [&] { return run(s, protocol_roles, ctx, body); });
    };
    return spec;
  };
  const Grant anyone{"*", Scope::kAny};
  const Grant same_org{"*", Scope::kSameOrg};
  const Grant self{"*", Scope::kSelf};
  const Grant dpo_same_org{std::string(kRoleDpo), Scope::kSameOrg};

  router.Add(Handled(s, {.method = "GET", .pattern = "/api/v1/me", .grants = {anyone}}, Me));
  AddCreation(router, kOrgPrefix,
              Handled(s, {.method = "POST", .pattern = "/api/v1/orgs", .grants = {kOperator}}, CreateOrganisation));
  router.Add(Handled(s, {.method = "GET", .pattern = "/api/v1/orgs", .grants = {kOperator}}, ListOrganisations));
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/orgs/{org}", .grants = {kOperator, same_org},
                      .target = TargetKind::kOrg, .target_param = "org"},
                     GetOrganisation));

  // Client-certificate pins of an existing organisation (mutual TLS). Each
  // change is audited (before it commits) as http.request with the
  // organisation's id; the router reads pins per request, so a change
  // applies at once.
  router.AddParameterRule(
      "pin", [](const std::string& v) { return NormalisePinId(v).has_value(); },
      "must be a pin id: 64 hex digits, or the URL-safe base64 of the SHA-256 without padding "
      "(43 characters)");
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/orgs/{org}/client-pins", .grants = {kOperator},
                      .target = TargetKind::kOrg, .target_param = "org"},
                     ListClientPins));
  AddChange(router, Handled(s,
                            {.method = "POST", .pattern = "/api/v1/orgs/{org}/client-pins", .grants = {kOperator},
                             .target = TargetKind::kOrg, .target_param = "org"},
                            AddClientPin));
  AddChange(router, Handled(s,
                            {.method = "DELETE", .pattern = "/api/v1/orgs/{org}/client-pins/{pin}",
                             .grants = {kOperator}, .target = TargetKind::kOrg, .target_param = "org"},
                            RemoveClientPin));

  AddCreation(router, kUserPrefix,
              warned({.method = "POST", .pattern = "/api/v1/orgs/{org}/users", .grants = {kOperator},
                      .target = TargetKind::kOrg, .target_param = "org"},
                     CreateUser));
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/orgs/{org}/users", .grants = {kOperator, dpo_same_org},
                      .target = TargetKind::kOrg, .target_param = "org"},
                     ListUsers));
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/users/{user}", .grants = {kOperator, dpo_same_org, self},
                      .target = TargetKind::kUser, .target_param = "user"},
                     GetUser));
  AddChange(router, warned({.method = "PUT", .pattern = "/api/v1/users/{user}/roles", .grants = {kOperator},
                            .target = TargetKind::kUser, .target_param = "user"},
                           SetRoles));
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/users/{user}/keys", .grants = {kOperator, same_org},
                      .target = TargetKind::kUser, .target_param = "user"},
                     GetKeys));
  AddChange(router, Handled(s,
                            {.method = "PUT", .pattern = "/api/v1/users/{user}/keys", .grants = {kOperator, self},
                             .target = TargetKind::kUser, .target_param = "user"},
                            SetKeys));
  AddCreation(router, kTokenPrefix,
              Handled(s,
                      {.method = "POST", .pattern = "/api/v1/users/{user}/tokens", .grants = {kOperator},
                       .target = TargetKind::kUser, .target_param = "user"},
                      IssueToken));
  router.Add(Handled(s,
                     {.method = "GET", .pattern = "/api/v1/users/{user}/tokens", .grants = {kOperator, self},
                      .target = TargetKind::kUser, .target_param = "user"},
                     ListTokens));
  AddChange(router, Handled(s,
                            {.method = "DELETE", .pattern = "/api/v1/tokens/{token}", .grants = {kOperator, self},
                             .target = TargetKind::kToken, .target_param = "token"},
                            RevokeToken));
}

void RegisterOperatorRoutes(Router& router, std::function<bool()> audit_writable, ProtocolRoles protocol_roles) {
  RegisterHealthRoutes(router, std::move(audit_writable));
  RegisterIdentityRoutes(router, std::move(protocol_roles));
  RegisterKeyRoutes(router);
}

}  // namespace xgw

#include "audit/audit_event.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

#include <nlohmann/json.hpp>


namespace xgw {
namespace {

constexpr std::pair<AuditAction, std::string_view> kActions[] = {
    {AuditAction::kProtocolProposed, "protocol.proposed"},
    {AuditAction::kProtocolAccepted, "protocol.accepted"},
    {AuditAction::kProtocolActivated, "protocol.activated"},
    {AuditAction::kProtocolSuspended, "protocol.suspended"},
    {AuditAction::kProtocolTerminated, "protocol.terminated"},
    {AuditAction::kProtocolExpired, "protocol.expired"},
    {AuditAction::kExchangeUploaded, "exchange.uploaded"},
    {AuditAction::kExchangeRefused, "exchange.refused"},
    {AuditAction::kExchangeListed, "exchange.listed"},
    {AuditAction::kExchangeDownloaded, "exchange.downloaded"},
    {AuditAction::kExchangeDownloadRefused, "exchange.download_refused"},
    {AuditAction::kExchangeAcknowledged, "exchange.acknowledged"},
    {AuditAction::kExchangeRevoked, "exchange.revoked"},
    {AuditAction::kExchangeDeletedExpiry, "exchange.deleted_expiry"},
    {AuditAction::kExchangeDeleted, "exchange.deleted"},
    {AuditAction::kViolationReported, "violation.reported"},
    {AuditAction::kLoginFailed, "auth.login_failed"},
    {AuditAction::kTokenIssued, "auth.token_issued"},
    {AuditAction::kTokenRevoked, "auth.token_revoked"},
    {AuditAction::kOrganisationRegistered, "org.registered"},
    {AuditAction::kUserRegistered, "user.registered"},
    {AuditAction::kUserKeyChanged, "user.key_changed"},
    {AuditAction::kUserDisabled, "user.disabled"},
    {AuditAction::kConfigReloaded, "config.reloaded"},
    {AuditAction::kDaemonStarted, "daemon.started"},
    {AuditAction::kDaemonStopped, "daemon.stopped"},
    {AuditAction::kAuditQueried, "audit.queried"},
    {AuditAction::kAuditReceiptIssued, "audit.receipt_issued"},
    {AuditAction::kSubjectSearched, "audit.subject_searched"},
    {AuditAction::kHttpRequest, "http.request"},
    {AuditAction::kClockAdvanced, "clock.advanced"},
    {AuditAction::kExchangeCreated, "exchange.created"},
    {AuditAction::kExchangeDiscarded, "exchange.discarded"},
    {AuditAction::kCheckpointSigned, "audit.checkpoint_signed"},
    {AuditAction::kSigninSucceeded, "auth.signin_succeeded"},
    {AuditAction::kSigninFailed, "auth.signin_failed"},
    {AuditAction::kAccountLocked, "auth.account_locked"},
    {AuditAction::kAccountUnlocked, "auth.account_unlocked"},
    {AuditAction::kMfaEnrolled, "auth.mfa_enrolled"},
    {AuditAction::kMfaReset, "auth.mfa_reset"},
    {AuditAction::kRecoveryCodeUsed, "auth.recovery_code_used"},
    {AuditAction::kPasswordChanged, "auth.password_changed"},
    {AuditAction::kRecoveryCodesRegenerated, "auth.recovery_codes_regenerated"},
    {AuditAction::kInvitationIssued, "auth.invitation_issued"},
    {AuditAction::kInvitationUsed, "auth.invitation_used"},
    {AuditAction::kUserEnabled, "user.enabled"},
    {AuditAction::kSessionEnded, "auth.session_ended"},
    {AuditAction::kKeyBackupStored, "key.backup_stored"},
    {AuditAction::kKeyBackupFetched, "key.backup_fetched"},
    {AuditAction::kKeyBackupDeleted, "key.backup_deleted"},
    {AuditAction::kSsoSubjectSet, "user.sso_subject_set"},
    {AuditAction::kSsoSubjectRemoved, "user.sso_subject_removed"},
};

// The closed reason vocabulary, sorted. Adding a code is a reviewed code
// change (and a line in docs/audit-events.md), never something input can do:
// a free-form reason could carry a name or a national number.
constexpr std::string_view kReasons[] = {
    "acceptance_missing",     "account_disabled",      "already_acknowledged",
    "bad_credentials",        "breach",                "certificate_invalid",
    "column_missing",         "column_not_allowed",    "config_invalid",
    "content_mismatch",       "decrypt_failed",        "dpo_request",
    "duplicate_upload",       "exchange_deleted",      "exchange_expired",
    "exchange_not_found",     "exchange_revoked",      "file_type_not_allowed",
    "hash_mismatch",          "internal_error",        "key_missing",
    "limit_exceeded",         "manifest_invalid",      "manual",
    "mfa_failed",             "not_a_party",           "not_authorised",
    "not_recipient",          "not_sender",            "one_off_used",
    "operator_request",       "party_request",         "protocol_expired",
    "protocol_not_active",    "protocol_not_found",    "protocol_suspended",
    "protocol_terminated",    "protocol_version_mismatch", "quota_exceeded",
    "rate_limited",           "recipient_key_missing", "retention_expired",
    "row_limit_exceeded",     "row_missing",           "schema_invalid",
    "signature_invalid",      "size_limit_exceeded",   "startup_catch_up",
    "storage_error",          "superseded",            "token_expired",
    "token_revoked",          "token_unknown",         "unsupported_format",
    "validation_failed",      "validity_period",       "value_invalid",
    "wrong_state",            "scheduled",             "signal",
    // Added with the exchange API (xgwd):
    "invalid_request",        "not_found",             "payload_too_large",
    "unsupported_media_type", "conflict",              "age_invalid",
    "upload_timeout",         "orphaned_blob",         "audit_unavailable",
    "on_acknowledgement",     "protocol_not_accepted", "recipient_not_allowed",
    // The cause of a deletion (policy/decisions.h ExpiryReason):
    "after_delivery",         "after_first_download",
    // Why a sign-in failed (auth.signin_failed) or a session's request was refused:
    "password",               "totp",                  "recovery",
    "locked",                 "disabled",              "csrf_refused",
    // Single sign-on (gateway/api_sso.cc): "oidc" names the method of an
    // auth.signin_succeeded; the others say why an OpenID Connect sign-in failed.
    "oidc",                   "oidc_state",            "oidc_provider",
    "oidc_code",              "oidc_malformed",        "oidc_algorithm",
    "oidc_unknown_key",       "oidc_signature",        "oidc_issuer",
    "oidc_audience",          "oidc_expired",          "oidc_not_yet_valid",
    "oidc_issued_at",         "oidc_nonce",            "oidc_subject",
    "oidc_claim",             "oidc_unknown_user",     "oidc_provider_error",
};

constexpr size_t kMaxOrgs = 16;

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, UTC).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

constexpr int64_t kMaxTimeMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

Result<void> Bad(std::string_view field, std::string_view rule) {
  return Fail(ErrorCode::kInvalidArgument,
              "audit event field " + std::string(field) + " " + std::string(rule));
}

Result<void> CheckId(std::string_view field, const std::string& id, bool required) {
  if (id.empty()) return required ? Bad(field, "is required") : Result<void>{};
  if (!IsSafeId(id)) return Bad(field, "does not match the safe id pattern");
  return {};
}

Result<void> Validate(const AuditEvent& e) {
  if (e.time_ms < 0 || e.time_ms > kMaxTimeMs) return Bad("time", "is out of range");
  switch (e.actor.type) {
    case ActorType::kUser:
      XGW_CHECK(CheckId("actor.id", e.actor.id, true));
      XGW_CHECK(CheckId("actor.org", e.actor.org, true));
      break;
    case ActorType::kOrganisation:
    case ActorType::kSystem:
      XGW_CHECK(CheckId("actor.id", e.actor.id, true));
      if (!e.actor.org.empty()) return Bad("actor.org", "is only allowed for a user actor");
      break;
    case ActorType::kAnonymous:
      if (!e.actor.id.empty() || !e.actor.org.empty()) {
        return Bad("actor", "of an anonymous actor must have no id (never record a typed login name)");
      }
      break;
  }
  if (!e.reason.empty() && !IsKnownReasonCode(e.reason)) {
    return Bad("reason", "is not in the closed reason vocabulary");
  }
  XGW_CHECK(CheckId("protocol.id", e.protocol_id, false));
  if (!e.protocol_version.empty()) {
    if (e.protocol_id.empty()) return Bad("protocol.version", "requires protocol.id");
    if (!IsLowerHex64(e.protocol_version)) return Bad("protocol.version", "must be 64 lower-case hex digits");
  }
  XGW_CHECK(CheckId("exchange", e.exchange_id, false));
  XGW_CHECK(CheckId("user", e.user_id, false));
  XGW_CHECK(CheckId("token", e.token_id, false));
  XGW_CHECK(CheckId("request", e.request_id, false));
  if (e.orgs.size() > kMaxOrgs) return Bad("orgs", "has more than 16 entries");
  for (const auto& o : e.orgs) XGW_CHECK(CheckId("orgs", o, true));
  if (!e.client_address.empty() && !IsIpLiteral(e.client_address)) {
    return Bad("client", "is not an ip address literal");
  }
  if (e.count == 0 || e.count > (uint64_t{1} << 53)) return Bad("count", "must be from 1 to 2^53");
  return {};
}

std::string ActorTypeName(ActorType t) {
  switch (t) {
    case ActorType::kUser: return "user";
    case ActorType::kOrganisation: return "org";
    case ActorType::kSystem: return "system";
    case ActorType::kAnonymous: return "anonymous";
  }
  return "system";
}

Result<std::string> Str(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) return Fail(ErrorCode::kFormat, std::string("audit event field ") + key + " is not a string");
  return it->get<std::string>();
}

}  // namespace

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string_view AuditActionName(AuditAction action) {
  for (const auto& [a, n] : kActions) {
    if (a == action) return n;
  }
  return "unknown";
}

std::optional<AuditAction> ParseAuditAction(std::string_view name) {
  for (const auto& [a, n] : kActions) {
    if (n == name) return a;
  }
  return std::nullopt;
}

std::string_view AuditOutcomeName(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::kSuccess: return "success";
    case AuditOutcome::kRefused: return "refused";
    case AuditOutcome::kFailed: return "failed";
  }
  return "failed";
}

bool IsKnownReasonCode(std::string_view code) {
  return std::find(std::begin(kReasons), std::end(kReasons), code) != std::end(kReasons);
}

bool IsSafeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
  });
}

std::string FormatAuditTime(int64_t time_ms) {
  if (time_ms >= 0 && time_ms <= kMaxTimeMs) {
    // Years 1970..9999: fixed width, no snprintf (this runs once per append).
    const int64_t days = time_ms / 86400000, rem = time_ms % 86400000;
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, y, m, d);
    char buf[24];
    const auto put = [&](size_t at, int64_t v, size_t width) {
      for (size_t i = width; i-- > 0; v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
    };
    put(0, y, 4);
    buf[4] = '-';
    put(5, m, 2);
    buf[7] = '-';
    put(8, d, 2);
    buf[10] = 'T';
    put(11, rem / 3600000, 2);
    buf[13] = ':';
    put(14, rem / 60000 % 60, 2);
    buf[16] = ':';
    put(17, rem / 1000 % 60, 2);
    buf[19] = '.';
    put(20, rem % 1000, 3);
    buf[23] = 'Z';
    return std::string(buf, sizeof buf);
  }
  const int64_t days = time_ms >= 0 ? time_ms / 86400000 : (time_ms - 86399999) / 86400000;
  const int64_t rem = time_ms - days * 86400000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600000),
                static_cast<long long>(rem / 60000 % 60), static_cast<long long>(rem / 1000 % 60),
                static_cast<long long>(rem % 1000));
  return buf;
}

Result<int64_t> ParseAuditTime(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SS.mmmZ.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return Fail(ErrorCode::kFormat, "audit time must be YYYY-MM-DDTHH:MM:SS.mmmZ");
  for (size_t i = 0; i < text.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
    if (!ok) return Fail(ErrorCode::kFormat, "audit time must be YYYY-MM-DDTHH:MM:SS.mmmZ");
  }
  const auto num = [&](size_t pos, size_t len) {
    int64_t v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
                s = num(17, 2), ms = num(20, 3);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) {
    return Fail(ErrorCode::kFormat, "audit time has an out-of-range component");
  }
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const int64_t t = ((days * 24 + h) * 60 + mi) * 60000 + s * 1000 + ms;
  if (FormatAuditTime(t) != text) return Fail(ErrorCode::kFormat, "audit time is not a real date");
  return t;
}

std::vector<std::string> ConcernedOrganisations(const AuditEvent& e) {
  std::vector<std::string> out = e.orgs;
  if (e.actor.type == ActorType::kUser) out.push_back(e.actor.org);
  if (e.actor.type == ActorType::kOrganisation) out.push_back(e.actor.id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Written directly, without building a JSON tree: the members in the byte
// order of their keys (what CanonicalJson's sorted map gives), no whitespace.
// No value needs escaping: Validate admits only safe ids, vocabulary codes,
// IP literals and the fixed names, all printable ASCII without '"' or '\\'.
// tests/audit/audit_event_test.cc checks the bytes against CanonicalJson.
Result<std::string> ToCanonicalJson(const AuditEvent& e) {
  XGW_CHECK(Validate(e));
  std::string out;
  out.reserve(192 + e.actor.id.size() + e.actor.org.size() + e.protocol_id.size() + e.protocol_version.size() +
              e.exchange_id.size() + e.user_id.size() + e.token_id.size() + e.client_address.size() +
              e.request_id.size() + e.orgs.size() * 24);
  const auto member = [&](std::string_view key_and_open, std::string_view value) {
    out += key_and_open;  // e.g. ,"exchange":"
    out += value;
    out += '"';
  };
  out += R"({"action":")";
  out += AuditActionName(e.action);
  out += R"(","actor":{)";
  if (!e.actor.id.empty()) {
    member(R"("id":")", e.actor.id);
    out += ',';
  }
  if (!e.actor.org.empty()) {
    member(R"("org":")", e.actor.org);
    out += ',';
  }
  member(R"("type":")", ActorTypeName(e.actor.type));
  out += '}';
  if (!e.client_address.empty()) member(R"(,"client":")", e.client_address);
  if (e.count != 1) {
    out += R"(,"count":)";
    out += std::to_string(e.count);
  }
  if (!e.exchange_id.empty()) member(R"(,"exchange":")", e.exchange_id);
  if (!e.orgs.empty()) {
    std::vector<std::string_view> orgs(e.orgs.begin(), e.orgs.end());
    std::sort(orgs.begin(), orgs.end());
    orgs.erase(std::unique(orgs.begin(), orgs.end()), orgs.end());
    out += R"(,"orgs":[)";
    for (size_t i = 0; i < orgs.size(); ++i) {
      if (i) out += ',';
      out += '"';
      out += orgs[i];
      out += '"';
    }
    out += ']';
  }
  member(R"(,"outcome":")", AuditOutcomeName(e.outcome));
  if (!e.protocol_id.empty()) {
    member(R"(,"protocol":{"id":")", e.protocol_id);
    if (!e.protocol_version.empty()) member(R"(,"version":")", e.protocol_version);
    out += '}';
  }
  if (!e.reason.empty()) member(R"(,"reason":")", e.reason);
  if (!e.request_id.empty()) member(R"(,"request":")", e.request_id);
  member(R"(,"time":")", FormatAuditTime(e.time_ms));
  if (!e.token_id.empty()) member(R"(,"token":")", e.token_id);
  if (!e.user_id.empty()) member(R"(,"user":")", e.user_id);
  out += R"(,"v":1})";
  return out;
}

Result<AuditEvent> ParseAuditEvent(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return Fail(ErrorCode::kFormat, "audit event is not valid json");
  }
  if (!j.is_object()) return Fail(ErrorCode::kFormat, "audit event is not a json object");
  static const std::array<std::string_view, 14> kFields = {
      "action", "actor", "client", "count", "exchange", "orgs", "outcome", "protocol",
      "reason", "request", "time", "token", "user", "v"};
  for (const auto& [k, v] : j.items()) {
    if (std::find(kFields.begin(), kFields.end(), k) == kFields.end()) {
      return Fail(ErrorCode::kFormat, "audit event has an unknown field");
    }
  }
  if (!j.contains("v") || j["v"] != 1) return Fail(ErrorCode::kFormat, "audit event version must be 1");
  AuditEvent e;
  XGW_TRY(std::string time, Str(j, "time"));
  XGW_TRY(e.time_ms, ParseAuditTime(time));
  if (!j.contains("actor") || !j["actor"].is_object()) return Fail(ErrorCode::kFormat, "audit event actor is missing");
  const auto& a = j["actor"];
  for (const auto& [k, v] : a.items()) {
    if (k != "type" && k != "id" && k != "org") return Fail(ErrorCode::kFormat, "audit event actor has an unknown field");
  }
  XGW_TRY(std::string type, Str(a, "type"));
  if (type == "user") e.actor.type = ActorType::kUser;
  else if (type == "org") e.actor.type = ActorType::kOrganisation;
  else if (type == "system") e.actor.type = ActorType::kSystem;
  else if (type == "anonymous") e.actor.type = ActorType::kAnonymous;
  else return Fail(ErrorCode::kFormat, "audit event actor type is unknown");
  XGW_TRY(e.actor.id, Str(a, "id"));
  XGW_TRY(e.actor.org, Str(a, "org"));
  XGW_TRY(std::string action, Str(j, "action"));
  auto act = ParseAuditAction(action);
  if (!act) return Fail(ErrorCode::kFormat, "audit event action is unknown");
  e.action = *act;
  XGW_TRY(std::string outcome, Str(j, "outcome"));
  if (outcome == "success") e.outcome = AuditOutcome::kSuccess;
  else if (outcome == "refused") e.outcome = AuditOutcome::kRefused;
  else if (outcome == "failed") e.outcome = AuditOutcome::kFailed;
  else return Fail(ErrorCode::kFormat, "audit event outcome is unknown");
  XGW_TRY(e.reason, Str(j, "reason"));
  if (j.contains("protocol")) {
    const auto& p = j["protocol"];
    if (!p.is_object()) return Fail(ErrorCode::kFormat, "audit event protocol is not an object");
    for (const auto& [k, v] : p.items()) {
      if (k != "id" && k != "version") return Fail(ErrorCode::kFormat, "audit event protocol has an unknown field");
    }
    XGW_TRY(e.protocol_id, Str(p, "id"));
    XGW_TRY(e.protocol_version, Str(p, "version"));
  }
  XGW_TRY(e.exchange_id, Str(j, "exchange"));
  XGW_TRY(e.user_id, Str(j, "user"));
  XGW_TRY(e.token_id, Str(j, "token"));
  XGW_TRY(e.client_address, Str(j, "client"));
  XGW_TRY(e.request_id, Str(j, "request"));
  if (j.contains("count")) {
    if (!j["count"].is_number_unsigned()) return Fail(ErrorCode::kFormat, "audit event count is not a number");
    e.count = j["count"].get<uint64_t>();
  }
  if (j.contains("orgs")) {
    if (!j["orgs"].is_array()) return Fail(ErrorCode::kFormat, "audit event orgs is not an array");
    for (const auto& o : j["orgs"]) {
      if (!o.is_string()) return Fail(ErrorCode::kFormat, "audit event orgs entry is not a string");
      e.orgs.push_back(o.get<std::string>());
    }
  }
  auto canon = ToCanonicalJson(e);
  if (!canon) return Fail(ErrorCode::kFormat, canon.error().message);
  if (*canon != text) return Fail(ErrorCode::kFormat, "audit event is not in canonical form");
  return e;
}

}  // namespace xgw

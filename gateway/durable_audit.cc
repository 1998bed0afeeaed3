#include "gateway/durable_audit.h"

#include <cstdio>

namespace xgw {

std::string ReasonForProblemSlug(const std::string& slug, unsigned status) {
  if (slug == "unauthenticated") return "bad_credentials";
  if (slug == "forbidden") return "not_authorised";
  if (slug == "client-certificate") return "certificate_invalid";
  if (slug == "csrf-refused") return "csrf_refused";
  if (slug == "too-large") return "payload_too_large";
  if (slug == "rate-limited") return "rate_limited";
  if (slug == "unsupported-media-type") return "unsupported_media_type";
  if (slug == "subject-key-unusable") return "config_invalid";
  if (IsKnownReasonCode(slug)) return slug;
  if (status == 404) return "not_found";
  if (status == 409) return "conflict";
  if (status == 413) return "payload_too_large";
  if (status == 415) return "unsupported_media_type";
  if (status == 503) return "audit_unavailable";
  if (status >= 500) return "internal_error";
  if (status == 401) return "bad_credentials";
  if (status == 403) return "not_authorised";
  if (status >= 400) return "invalid_request";
  return "";
}

// The action a DPO filters on for a request: the identity and audit changes
// that have an action of their own, a refused authentication; every other
// request is http.request. (A change recorded before it commits, see
// RouteSpec::audit_first, carries its action with outcome success; one its
// checks refused carries it with the refusal's outcome and reason.)
AuditAction ActionForRequest(const RequestRecord& r) {
  if (r.status == 401) return AuditAction::kLoginFailed;
  struct Entry {
    std::string_view method, route;
    AuditAction action;
  };
  static constexpr Entry kActions[] = {
      {"POST", "/api/v1/orgs", AuditAction::kOrganisationRegistered},
      {"POST", "/api/v1/orgs/{org}/users", AuditAction::kUserRegistered},
      {"PUT", "/api/v1/users/{user}/keys", AuditAction::kUserKeyChanged},
      {"POST", "/api/v1/users/{user}/tokens", AuditAction::kTokenIssued},
      {"DELETE", "/api/v1/tokens/{token}", AuditAction::kTokenRevoked},
      {"POST", "/api/v1/audit/checkpoint", AuditAction::kCheckpointSigned},
      {"POST", "/api/v1/users/{user}/invitations", AuditAction::kInvitationIssued},
      {"POST", "/api/v1/users/{user}/mfa-reset", AuditAction::kMfaReset},
      {"POST", "/api/v1/users/{user}/unlock", AuditAction::kAccountUnlocked},
      {"POST", "/api/v1/users/{user}/disable", AuditAction::kUserDisabled},
      {"POST", "/api/v1/users/{user}/enable", AuditAction::kUserEnabled},
      {"PUT", "/api/v1/users/{user}/key-backup", AuditAction::kKeyBackupStored},
      {"DELETE", "/api/v1/users/{user}/key-backup", AuditAction::kKeyBackupDeleted},
      {"PUT", "/api/v1/users/{user}/sso", AuditAction::kSsoSubjectSet},
      {"DELETE", "/api/v1/users/{user}/sso", AuditAction::kSsoSubjectRemoved},
  };
  for (const auto& a : kActions) {
    if (a.method == r.method && a.route == r.route) return a.action;
  }
  return AuditAction::kHttpRequest;
}

namespace {

// Puts an organisation, user or token id (by its prefix) in the event's
// field for it; ignores an empty or unsafe id.
void NameIn(AuditEvent& e, const std::string& id) {
  if (id.empty() || !IsSafeId(id)) return;
  if (id.rfind("usr-", 0) == 0) e.user_id = id;
  else if (id.rfind("tok-", 0) == 0) e.token_id = id;
  else if (id.rfind("org-", 0) == 0) e.orgs.push_back(id);
}

}  // namespace

Result<void> DurableAuditSink::Append(const RequestRecord& r) {
  // A domain event a handler appends through the sink (RequestRecord::event).
  std::optional<AuditAction> domain;
  if (!r.event.empty() && r.event != "http.request") domain = ParseAuditAction(r.event);
  const bool changes = r.method == "POST" || r.method == "PUT" || r.method == "DELETE";
  if (!domain && r.status < 400 && !changes) return {};
  AuditEvent e;
  e.time_ms = clock_.Now() * 1000;
  e.action = domain ? *domain : ActionForRequest(r);
  if (!r.actor_user_id.empty() && IsSafeId(r.actor_user_id) && IsSafeId(r.actor_org_id)) {
    e.actor = {ActorType::kUser, r.actor_user_id, r.actor_org_id};
  } else {
    e.actor = {ActorType::kAnonymous, "", ""};
  }
  e.outcome = r.status < 400 ? AuditOutcome::kSuccess
              : r.status >= 500 ? AuditOutcome::kFailed
                                : AuditOutcome::kRefused;
  if (r.status >= 400) e.reason = ReasonForProblemSlug(r.reason, r.status);
  if (domain) {
    e.outcome = r.outcome == "refused" ? AuditOutcome::kRefused
                : r.outcome == "failed" ? AuditOutcome::kFailed
                                        : AuditOutcome::kSuccess;
    e.reason = IsKnownReasonCode(r.reason) ? r.reason : "";
  }
  NameIn(e, r.org_id);
  NameIn(e, r.target_id);
  // What a creation creates (the user of a new token, the organisation of
  // a new user stay named by the target above).
  NameIn(e, r.created_id);
  if (IsSafeId(r.request_id)) e.request_id = r.request_id;
  if (IsIpLiteral(r.client_address)) e.client_address = r.client_address;
  e.count = r.count;
  auto a = log_.Append(e);
  if (!a) {
    metrics_.CountRefusal("audit_unavailable");
    return tl::unexpected(a.error());
  }
  return {};
}

Result<uint64_t> DurableAuditSink::AppendEvent(AuditEvent event) {
  if (event.time_ms == 0) event.time_ms = clock_.Now() * 1000;
  auto a = log_.Append(event);
  if (!a) ReportFailure(a.error());
  return a;
}

Result<void> DurableAuditSink::AppendEvents(std::vector<AuditEvent> events) {
  XGW_TRY(auto ticket, QueueEvents(std::move(events)));
  return Wait(*ticket);
}

Result<std::unique_ptr<AuditLog::Ticket>> DurableAuditSink::QueueEvents(std::vector<AuditEvent> events) {
  for (auto& e : events) {
    if (e.time_ms == 0) e.time_ms = clock_.Now() * 1000;
  }
  auto q = log_.Queue(events);
  if (!q) ReportFailure(q.error());
  return q;
}

Result<void> DurableAuditSink::Wait(AuditLog::Ticket& ticket) {
  auto a = ticket.Wait();
  if (!a) ReportFailure(a.error());
  return a;
}

void DurableAuditSink::ReportFailure(const Error& error) {
  std::fprintf(stderr, "xgwd: audit append failed: %s\n", ToString(error).c_str());
  metrics_.CountRefusal("audit_unavailable");
}

}  // namespace xgw

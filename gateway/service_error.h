// What a service answers when it does not do what it was asked: a refusal
// in the domain's words (the protocol is closed, the version is not open for
// acceptance, the exchange is gone ...) with a detail for the caller, or a
// failure underneath (storage, I/O) carried as its Error. Services return
// ServiceResult<T>; the API resources turn a ServiceError into an RFC 9457
// problem through one table (ProblemFor), so a refusal has the same status,
// type and title whichever route reports it.
//
// Details name fields and rules, never request values (they may be personal
// data).
#ifndef XGW_GATEWAY_SERVICE_ERROR_H_
#define XGW_GATEWAY_SERVICE_ERROR_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "crypto/error.h"
#include "gateway/http/router.h"

namespace xgw {

enum class Refusal {
  kFailed,                 // not a refusal: `cause` failed (storage, I/O, corrupt data)
  kInvalidRequest,         // 400 invalid-field
  kInvalidProtocol,        // 400 invalid-protocol (extra: problems)
  kNotFound,               // 404 not-found
  kNotDeleted,             // 404 not-deleted: no deletion event yet
  kForbidden,              // 403 forbidden
  kNotSender,              // 403 not-sender
  kUnknownParty,           // 422 unknown-party (extra: problems)
  kPartyChanged,           // 422 party-changed
  kNotAParty,              // 422 not-a-party
  kUnknownVersion,         // 422 unknown-version
  kProtocolClosed,         // 409 protocol-closed
  kVersionExists,          // 409 version-exists
  kVersionNotOpen,         // 409 version-mismatch
  kNoPendingVersion,       // 409 no-pending-version
  kTransitionNotAllowed,   // 409 wrong-state
  kNotOpenForAcceptance,   // 409 wrong-state
  kNotAcknowledgeable,     // 409 wrong-state
  kBusy,                   // 409 wrong-state: an upload or the sweeper holds the exchange
  kNotRevocable,           // 409 wrong-state
  kNothingToReport,        // 409 wrong-state
  kGone,                   // 410 gone
  // A new exchange refused (the audit log holds why; extra: violations).
  kExchangeRefused,        // 422 policy-violation
  kNotSendingParty,        // 403 policy-violation
  kSenderNotAParty,        // 403 not-a-party
  kProtocolNotFound,       // 404 protocol-not-found
  kManifestInvalid,        // 400 manifest-invalid
  kKeyMissing,             // 422 key-missing
  kSignatureInvalid,       // 400 signature-invalid
  kNotAnAgeFile,           // 400 age-invalid
  kUploadNotExpected,      // 409 wrong-state: discarded, or completed by another upload
  kSubjectKeyUnusable,     // 500 subject-key-unusable: the operator must fix a key file
  kAuditUnavailable,       // 503 audit-unavailable, Retry-After
};

struct ServiceError {
  Refusal refusal = Refusal::kFailed;
  std::string detail;
  nlohmann::json extra = nullptr;  // members added to the problem (e.g. "problems")
  std::optional<Error> cause;      // with kFailed
  // The service recorded this outcome in the audit log itself, so the
  // router adds no request record of its own.
  bool audited = false;

  ServiceError() = default;
  ServiceError(Refusal r, std::string d, nlohmann::json x = nullptr)
      : refusal(r), detail(std::move(d)), extra(std::move(x)) {}
  // A failure underneath; so that XGW_TRY works in a service.
  ServiceError(Error e) : cause(std::move(e)) {}  // NOLINT(google-explicit-constructor)
};

template <typename T>
using ServiceResult = tl::expected<T, ServiceError>;

inline tl::unexpected<ServiceError> Refuse(Refusal r, std::string detail, nlohmann::json extra = nullptr) {
  return tl::unexpected<ServiceError>(ServiceError(r, std::move(detail), std::move(extra)));
}

// The one table: refusal -> status, problem type, title.
Response ProblemFor(const RequestContext& ctx, const ServiceError& e);

}  // namespace xgw

#endif  // XGW_GATEWAY_SERVICE_ERROR_H_

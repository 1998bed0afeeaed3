#include "gateway/service_error.h"

#include "gateway/http/problem.h"

namespace xgw {

namespace {

struct ProblemKind {
  Refusal refusal;
  unsigned status;
  const char* slug;
  const char* title;
};

constexpr ProblemKind kProblems[] = {
    {Refusal::kInvalidRequest, 400, "invalid-field", "Invalid request"},
    {Refusal::kInvalidProtocol, 400, "invalid-protocol", "Invalid protocol"},
    {Refusal::kNotFound, 404, "not-found", "Not found"},
    {Refusal::kNotDeleted, 404, "not-deleted", "Not deleted"},
    {Refusal::kForbidden, 403, "forbidden", "Forbidden"},
    {Refusal::kNotSender, 403, "not-sender", "Not a sender"},
    {Refusal::kUnknownParty, 422, "unknown-party", "Unknown party"},
    {Refusal::kPartyChanged, 422, "party-changed", "Party changed"},
    {Refusal::kNotAParty, 422, "not-a-party", "Not a party"},
    {Refusal::kUnknownVersion, 422, "unknown-version", "Unknown version"},
    {Refusal::kProtocolClosed, 409, "protocol-closed", "Protocol closed"},
    {Refusal::kVersionExists, 409, "version-exists", "Version exists"},
    {Refusal::kVersionNotOpen, 409, "version-mismatch", "Version not open for acceptance"},
    {Refusal::kNoPendingVersion, 409, "no-pending-version", "Nothing to compare"},
    {Refusal::kTransitionNotAllowed, 409, "wrong-state", "Transition not allowed"},
    {Refusal::kNotOpenForAcceptance, 409, "wrong-state", "Not open for acceptance"},
    {Refusal::kNotAcknowledgeable, 409, "wrong-state", "Not acknowledgeable"},
    {Refusal::kBusy, 409, "wrong-state", "Not revocable now"},
    {Refusal::kNotRevocable, 409, "wrong-state", "Not revocable"},
    {Refusal::kNothingToReport, 409, "wrong-state", "Nothing to report on"},
    {Refusal::kGone, 410, "gone", "Gone"},
    {Refusal::kExchangeRefused, 422, "policy-violation", "Exchange refused"},
    {Refusal::kNotSendingParty, 403, "policy-violation", "Exchange refused"},
    {Refusal::kSenderNotAParty, 403, "not-a-party", "Exchange refused"},
    {Refusal::kProtocolNotFound, 404, "protocol-not-found", "Exchange refused"},
    {Refusal::kManifestInvalid, 400, "manifest-invalid", "Exchange refused"},
    {Refusal::kKeyMissing, 422, "key-missing", "Exchange refused"},
    {Refusal::kSignatureInvalid, 400, "signature-invalid", "Signature invalid"},
    {Refusal::kNotAnAgeFile, 400, "age-invalid", "Not an age file"},
    {Refusal::kUploadNotExpected, 409, "wrong-state", "Upload not expected"},
    {Refusal::kSubjectKeyUnusable, 500, "subject-key-unusable", "Subject-index key unusable"},
};

// The problem of `e` as the table says.
Response ProblemOf(const RequestContext& ctx, const ServiceError& e) {
  if (e.refusal == Refusal::kAuditUnavailable) return AuditUnavailableProblem(ctx.request_id());
  if (e.refusal == Refusal::kFailed) {
    return ErrorProblem(ctx, e.cause.value_or(Error{ErrorCode::kInternal, "unspecified service failure"}));
  }
  for (const ProblemKind& k : kProblems) {
    if (k.refusal != e.refusal) continue;
    Response r = Problem(k.status, k.slug, k.title, e.detail, ctx.request_id());
    if (e.extra.is_object()) r = WithExtra(std::move(r), e.extra);
    return r;
  }
  return ErrorProblem(ctx, Error{ErrorCode::kInternal, "refusal without a problem kind"});
}

}  // namespace

Response ProblemFor(const RequestContext& ctx, const ServiceError& e) {
  Response r = ProblemOf(ctx, e);
  r.audited = r.audited || e.audited;
  return r;
}

}  // namespace xgw

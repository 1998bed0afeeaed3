// The one table from a service's refusals to problem documents
// (gateway/service_error.h): every refusal has its own status and type, its
// detail is the service's, extra members are kept, and a failure underneath
// is answered as its Error is everywhere else.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gateway/service_error.h"

namespace {

using xgw::Refusal;
using xgw::ServiceError;

xgw::RequestContext Context() {
  xgw::RequestContext ctx;
  ctx.head.request_id = "req-test";
  return ctx;
}

nlohmann::json Body(const xgw::Response& r) { return nlohmann::json::parse(r.body); }

}  // namespace

TEST_CASE("each refusal has its status and problem type, with the service's detail") {
  const auto ctx = Context();
  struct Expect {
    Refusal refusal;
    unsigned status;
    const char* type;
  };
  for (const Expect& e : {Expect{Refusal::kInvalidRequest, 400, "invalid-field"},
                          Expect{Refusal::kNotFound, 404, "not-found"},
                          Expect{Refusal::kNotDeleted, 404, "not-deleted"},
                          Expect{Refusal::kNotSender, 403, "not-sender"},
                          Expect{Refusal::kPartyChanged, 422, "party-changed"},
                          Expect{Refusal::kProtocolClosed, 409, "protocol-closed"},
                          Expect{Refusal::kVersionNotOpen, 409, "version-mismatch"},
                          Expect{Refusal::kBusy, 409, "wrong-state"},
                          Expect{Refusal::kGone, 410, "gone"}}) {
    const xgw::Response r = xgw::ProblemFor(ctx, ServiceError(e.refusal, "what to do"));
    CHECK(r.status == e.status);
    CHECK(r.content_type == "application/problem+json");
    const auto body = Body(r);
    CHECK(body["type"] == std::string("urn:xgw:problem:") + e.type);
    CHECK(body["detail"] == "what to do");
    CHECK(body["request_id"] == "req-test");
    CHECK(r.refusal_reason == e.type);
  }
}

TEST_CASE("every refusal the services can give is in the table") {
  const auto ctx = Context();
  for (int i = static_cast<int>(Refusal::kInvalidRequest); i < static_cast<int>(Refusal::kAuditUnavailable); ++i) {
    const xgw::Response r = xgw::ProblemFor(ctx, ServiceError(static_cast<Refusal>(i), "d"));
    INFO("refusal " << i);
    CHECK(r.status >= 400);
    CHECK(Body(r)["type"] != "urn:xgw:problem:internal");
  }
}

TEST_CASE("a refusal's extra members reach the problem, audit and storage failures keep their answers") {
  const auto ctx = Context();
  const auto with_problems =
      xgw::ProblemFor(ctx, ServiceError(Refusal::kUnknownParty, "register them", {{"problems", {{{"path", "$.x"}}}}}));
  CHECK(with_problems.status == 422);
  CHECK(Body(with_problems)["problems"][0]["path"] == "$.x");

  const auto audit = xgw::ProblemFor(ctx, ServiceError(Refusal::kAuditUnavailable, ""));
  CHECK(audit.status == 503);
  CHECK(Body(audit)["type"] == "urn:xgw:problem:audit-unavailable");

  // A failure underneath: its cause is logged, never sent.
  const auto failed = xgw::ProblemFor(ctx, ServiceError(xgw::Error{xgw::ErrorCode::kIo, "disk full at /secret/path"}));
  CHECK(failed.status == 500);
  CHECK(failed.body.find("/secret/path") == std::string::npos);
  const auto conflict = xgw::ProblemFor(ctx, ServiceError(xgw::Error{xgw::ErrorCode::kNotFound, "no such thing"}));
  CHECK(conflict.status == 404);
}

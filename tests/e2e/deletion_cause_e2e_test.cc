// Each deletion carries its real cause — the retention rule that expired the
// exchange — in its audit event, in the exchange's record and in the signed
// deletion receipt (issue 23 item 11): here an acknowledgement under a
// protocol whose lists are deleted on acknowledgement.
#include <catch2/catch.hpp>
#include <string>

#include "audit/verify.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

TEST_CASE("AListDeletedBecauseItWasAcknowledgedSaysSoInItsEventRecordAndReceipt") {
  CirWorld w;  // the CIR protocol deletes a list once it is acknowledged
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kCirHeader + CirRow(3));
  REQUIRE(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.social.token}).status == 200);
  REQUIRE(Request(*w.d, "POST", "/api/v1/exchanges/" + id + "/ack", {.token = w.social.token}).status == 200);
  REQUIRE(w.WaitForState(id, "deleted"));

  json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?exchange=" + id +
                                                  "&action=exchange.deleted_expiry",
                                 {.token = w.dpo_recv.token}),
                         200)["items"];
  REQUIRE(events.size() == 1);
  CHECK(events[0]["event"]["reason"] == "on_acknowledgement");

  json row = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.sender.token}), 200);
  CHECK(row["deleted_reason"] == "on_acknowledgement");

  auto receipt = Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/receipt", {.token = w.dpo_recv.token});
  REQUIRE(receipt.status == 200);
  auto verified = VerifyDeletionReceipt(receipt.body, w.VerifierKey());
  REQUIRE(verified);
  CHECK(receipt.body.find("on_acknowledgement") != std::string::npos);
}

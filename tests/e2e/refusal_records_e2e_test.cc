// What a refused access to an exchange leaves in the audit log, and for whom:
// the parties' DPOs see it under the exchange; the DPO of an organisation that
// is no party learns nothing from it about the exchange (that it exists, its
// protocol, its parties).
#include <catch2/catch.hpp>
#include <string>

#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

json EventsFor(CirWorld& w, const Account& dpo, const std::string& query) {
  return MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000" + query, {.token = dpo.token}),
                  200)["items"];
}

}  // namespace

TEST_CASE("AnOutsidersRefusedAccessIsRecordedForThePartiesAndRevealsNothingToTheOutsidersDpo") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kCirHeader + CirRow(1));

  // The outsider (another organisation, no party) tries every door.
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.outsider.token}).status == 404);
  CHECK(Request(*w.d, "GET", "/api/v1/exchanges/" + id + "/content", {.token = w.outsider.token}).status == 404);
  CHECK(Request(*w.d, "POST", "/api/v1/exchanges/" + id + "/ack", {.token = w.outsider.token}).status == 404);

  // Its own DPO sees its user's refused requests, but nothing that names the
  // exchange, its protocol or the parties.
  const json outsider_view = EventsFor(w, w.dpo_third, "");
  REQUIRE_FALSE(outsider_view.empty());
  const std::string text = outsider_view.dump();
  CHECK(text.find(id) == std::string::npos);
  CHECK(text.find(w.protocol->id) == std::string::npos);
  CHECK(text.find(w.thuispunt) == std::string::npos);
  CHECK(text.find(w.ocmw) == std::string::npos);
  CHECK(text.find("exchange.download_refused") == std::string::npos);

  // The receiving party's DPO sees the three attempts under the exchange,
  // made by the gateway on behalf of the outsider's user.
  const json party_view = EventsFor(w, w.dpo_recv, "&exchange=" + id);
  int refused = 0;
  for (const auto& item : party_view) {
    const json& ev = item["event"];
    if (ev["outcome"] != "refused") continue;
    ++refused;
    CHECK(ev["actor"]["type"] == "system");
    CHECK(ev["user"] == w.outsider.user);
    CHECK(ev["reason"] == "not_recipient");
  }
  CHECK(refused == 3);
  CHECK(EventsFor(w, w.dpo_send, "&exchange=" + id).dump().find(w.outsider.user) != std::string::npos);
}

TEST_CASE("AnAcknowledgementByAColleagueWhoIsNoRecipientIsRecordedUnderTheExchange") {
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string id = w.Send(kCirHeader + CirRow(2));
  // The cleaner works for the receiving organisation but holds no recipient role.
  CHECK(Request(*w.d, "POST", "/api/v1/exchanges/" + id + "/ack", {.token = w.cleaner.token}).status == 404);
  const json view = EventsFor(w, w.dpo_recv, "&exchange=" + id + "&action=exchange.acknowledged");
  REQUIRE(view.size() == 1);
  const json& ev = view[0]["event"];
  CHECK(ev["outcome"] == "refused");
  CHECK(ev["reason"] == "not_recipient");
  // A colleague of the same organisation is named as the actor: its DPO may see it.
  CHECK(ev["actor"]["type"] == "user");
  CHECK(ev["actor"]["id"] == w.cleaner.user);
}

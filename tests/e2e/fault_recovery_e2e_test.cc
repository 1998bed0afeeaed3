// Faults injected through the daemon's fault points (audit/
// fault_points.h: a point fails while $XGW_FAULT_DIR/<name> exists), so
// these run on every machine: the audit log failing as a full disk would,
// and recovering without a restart; an upload whose publishing fails after
// its audit events were committed.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

HttpResult RegisterOrg(const Daemon& d, const std::string& name) {
  return Request(d, "POST", "/api/v1/orgs", {.token = d.operator_token(), .body = json{{"name", name}}.dump()});
}

}  // namespace

TEST_CASE("TheAuditLogRefusesChangesWhileItsDiskFailsAndTakesThemAgainWithoutARestart") {
  FaultDir faults;
  auto d = Daemon::Start();
  REQUIRE(RegisterOrg(*d, "Before the fault").status == 201);
  const pid_t pid = d->pid();

  faults.Fail("audit-commit");
  for (int i = 0; i < 3; ++i) {
    auto r = RegisterOrg(*d, "During the fault");
    CHECK(r.status == 503);
    CHECK(IsProblem(r));
  }
  // Nothing was changed while the log could not record it.
  json orgs = Request(*d, "GET", "/api/v1/orgs", {.token = d->operator_token()}).Json();
  CHECK(orgs.dump().find("During the fault") == std::string::npos);

  faults.Heal("audit-commit");
  // The log re-probes the disk at most every 2 s; no restart.
  long status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (status != 201 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    status = RegisterOrg(*d, "After the fault").status;
  }
  CHECK(status == 201);
  CHECK(d->pid() == pid);
  CHECK(d->Log().find("audit log writable again") != std::string::npos);
  REQUIRE(d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(d->dir() + "/state");
}

TEST_CASE("AnUploadWhosePublishingFailsAfterItsAuditIsRecordedAsFailedUnderTheExchange") {
  FaultDir faults;
  CirWorld w;
  w.ProposeAcceptActivate();
  const std::string csv = kCirHeader + CirRow(7);
  const std::string id = w.CreatePending(csv);

  faults.Fail("exchange-publish");
  auto up = w.Upload(id, w.Encrypt(csv));
  CHECK(up.status == 500);
  faults.Heal("exchange-publish");
  CHECK(w.State(id) == "pending");

  json items = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&exchange=" + id,
                                {.token = w.dpo_recv.token}),
                        200)["items"];
  int uploaded_at = -1, failed_at = -1, i = 0;
  for (const auto& item : items) {
    const json& ev = item["event"];
    if (ev["action"] == "exchange.uploaded" && ev["outcome"] == "success") uploaded_at = i;
    if (ev["action"] == "exchange.refused" && ev["outcome"] == "failed" && ev["reason"] == "storage_error") {
      failed_at = i;
    }
    ++i;
  }
  INFO(items.dump());
  CHECK(uploaded_at >= 0);
  CHECK(failed_at > uploaded_at);

  // The same upload, sent again once the store works, completes.
  auto again = w.Upload(id, w.Encrypt(csv));
  CHECK(again.status == 200);
  CHECK(w.State(id) == "available");
}

// End-to-end tests of the exchange API's access control and crash safety
// (issue 5): every exchange, protocol and audit route is called by every kind
// of caller against the real xgwd, and xgwd is killed with SIGKILL while
// several uploads stream in at once.
//
// The protocol is a periodic variant of the CIR example (so several
// exchanges may exist at once) whose exchanges survive acknowledgement.
//
// Long (about 860 lines): its cases share helpers and are registered with
// CTest under this executable's name; split into two files, every case would
// be renamed.
#include <signal.h>

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/sign.h"
#include "policy/canonical_json.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "tests/e2e/cir_test_data.h"
#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {


const std::string& kHeader = kCirHeader;

// `pad` characters of filler in the free-text column make rows large.
std::string Row(int i, size_t pad = 6) {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) + ";onvolledig;" + std::string(pad, 'a') +
         ";01/08/2024;2024-08-31\n";
}

// The periodic CIR variant, kept until 2024-09-27 whether or not acknowledged.
nlohmann::json ProtocolDoc(const std::string& id) { return CirPeriodicProtocolDoc(id); }

// Exchanges are sent under XM_MAIN.
class World : public CirWorld {
 public:
  World() : CirWorld(ProtocolDoc("XM_MAIN")) {}
};

}  // namespace

TEST_CASE("ExchangeRoutesAuthorisationMatrixAllowsOnlyIntendedCallers") {
  World w;
  Daemon& d = *w.d;
  // Where the daemon keeps its database: the fingerprint below reads it.
  {
    int status = 0;
    RunCommand("test -f " + d.dir() + "/state/xgwd.db", &status);
    REQUIRE(status == 0);
  }
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  // XM_LIFE: valid, for activate/suspend/terminate. XM_ACCEPT: proposed, for accept.
  w.ProposeAcceptActivate(ProtocolDoc("XM_LIFE"));
  const std::string accept_hash = w.Propose(ProtocolDoc("XM_ACCEPT"));

  // E: available, read/ack/violations target. RV: revoke + receipt target.
  // PEND: pending, upload target.
  const std::string csv_e = kHeader + Row(1) + Row(2) + Row(3);
  const std::string e = w.CreatePending(csv_e);
  const std::string blob_e = w.Encrypt(csv_e);
  MustJson(w.Upload(e, blob_e), 200);
  const std::string rv = w.CreatePending(kHeader + Row(4));
  MustJson(w.Upload(rv, w.Encrypt(kHeader + Row(4))), 200);
  const std::string csv_p = kHeader + Row(5);
  const std::string pend = w.CreatePending(csv_p);
  const std::string blob_p = w.Encrypt(csv_p);
  const std::string create_body = w.CreateBody(kHeader + Row(6));
  const std::string one_request_body = w.CreateBody(kHeader + Row(8)) + "\n" + w.Encrypt(kHeader + Row(8));
  auto lookup = SubjectLookupValue(w.subject_key, FieldType::kBeNationalNumber, SyntheticNrn(2));
  REQUIRE(lookup);
  // An audit event about E (its creation) for /audit/events/{index}.
  json created = MustJson(Request(d, "GET", "/api/v1/audit/events?exchange=" + e + "&action=exchange.created",
                                  {.token = d.operator_token()}),
                          200);
  REQUIRE(created["items"].size() == 1);
  const std::string event_index = std::to_string(created["items"][0]["index"].get<uint64_t>());

  // Callers. Expired and revoked tokens belong to the (otherwise allowed) sender.
  enum C { kOp, kSender, kRecipient, kCleaner, kDpoSend, kDpoRecv, kOutsider, kDpoThird, kNoToken, kExpired, kRevoked };
  const auto expired = w.Token(w.sender.user, 1);
  const auto revoked = w.Token(w.sender.user, 3600);
  REQUIRE(Request(d, "DELETE", "/api/v1/tokens/" + revoked.first, {.token = d.operator_token()}).status == 200);
  MustJson(Request(d, "POST", "/api/v1/admin/clock",
                   {.token = d.operator_token(), .body = json{{"advance_seconds", 5}}.dump()}),
           200);
  struct Caller {
    C kind;
    std::string name, token;
  };
  const std::vector<Caller> callers = {
      {kOp, "operator", d.operator_token()},
      {kSender, "sender", w.sender.token},
      {kRecipient, "allowed recipient", w.social.token},
      {kCleaner, "recipient-org user without recipient role", w.cleaner.token},
      {kDpoSend, "dpo of sending party", w.dpo_send.token},
      {kDpoRecv, "dpo of receiving party", w.dpo_recv.token},
      {kOutsider, "third-org sender", w.outsider.token},
      {kDpoThird, "third-org dpo", w.dpo_third.token},
      {kNoToken, "no token", ""},
      {kExpired, "expired token", expired.second},
      {kRevoked, "revoked token", revoked.second},
  };
  using Set = std::set<C>;
  const Set authenticated = {kOp, kSender, kRecipient, kCleaner, kDpoSend, kDpoRecv, kOutsider, kDpoThird};
  const Set parties = {kOp, kSender, kRecipient, kCleaner, kDpoSend, kDpoRecv};
  const Set audit_readers = {kOp, kDpoSend, kDpoRecv, kDpoThird};
  const Set see_exchange = {kOp, kSender, kRecipient, kDpoSend, kDpoRecv};

  using BodyFn = std::function<std::string(const Caller&)>;
  using CheckFn = std::function<void(const Caller&, const HttpResult&)>;
  // A target made for one refused call, in the state in which the call could
  // succeed, so a refusal cannot come from the target's state (already
  // acknowledged, revoked, accepted ...): its path and body.
  struct Target {
    std::string path, body;
  };
  using FreshFn = std::function<Target()>;
  // After the refusal, a caller who may does the same to that target and
  // succeeds: the target was one the refused call could have acted on.
  using ControlFn = std::function<void(const Target&)>;
  struct Route {
    Route(std::string m, std::string p, Set a, bool mut, BodyFn b, std::string ct = "application/json",
          CheckFn c = nullptr)
        : method(std::move(m)), path(std::move(p)), allowed(std::move(a)), mutating(mut), body(std::move(b)),
          content_type(std::move(ct)), check(std::move(c)) {}
    std::string method, path;
    Set allowed;
    bool mutating;
    BodyFn body;
    std::string content_type;
    CheckFn check;  // extra checks on a successful answer (what the caller may see)
    // The refusal of an authenticated caller who may not: 403 (none of the
    // route's roles) unless listed here as 404 (its role's scope does not
    // reach the target: answered as for a target that does not exist).
    Set not_found{};
    FreshFn fresh{};
    ControlFn control{};
  };
  int fresh_row = 100, fresh_protocol = 0, fresh_exchanges = 0, fresh_reports = 0;
  std::vector<std::string> fresh_protocols;
  const auto fresh_available = [&] {
    const std::string csv = kHeader + Row(fresh_row++);
    const std::string id = w.CreatePending(csv);
    MustJson(w.Upload(id, w.Encrypt(csv)), 200);
    ++fresh_exchanges;
    return id;
  };
  const auto fresh_protocol_doc = [&] {
    const std::string id = "XM_FRESH_" + std::to_string(++fresh_protocol);
    fresh_protocols.push_back(id);
    return ProtocolDoc(id);
  };
  const auto must_ok = [](const HttpResult& r) {
    INFO("control: " << r.status << " " << r.body.substr(0, 300));
    CHECK((r.status >= 200 && r.status < 300));
  };
  const auto none = [](const Caller&) { return std::string(); };
  const auto fixed = [](std::string b) { return [b](const Caller&) { return b; }; };
  std::vector<Route> routes = {
      {"GET", "/api/v1/protocols", authenticated, false, none, "application/json",
       [&](const Caller& c, const HttpResult& r) {
         CHECK(ContainsId(r.Json(), "XM_MAIN") == (parties.count(c.kind) > 0));
       }},
      {"GET", "/api/v1/protocols/XM_MAIN", parties, false, none},
      {"GET", "/api/v1/protocols/XM_MAIN/versions", parties, false, none},
      {"POST", "/api/v1/protocols", {kOp}, true, fixed(ProtocolDoc("XM_NEW").dump())},
      {"POST", "/api/v1/protocols/XM_ACCEPT/accept", {kOp, kDpoSend, kDpoRecv}, true,
       [&](const Caller& c) {
         json b = {{"version_hash", accept_hash}};
         if (c.kind == kOp) b["organisation"] = "org-thuispunt-gent";
         return b.dump();
       }},
      {"POST", "/api/v1/protocols/XM_LIFE/activate", {kOp}, true, none},
      {"POST", "/api/v1/protocols/XM_LIFE/suspend", {kOp}, true, none},
      {"POST", "/api/v1/protocols/XM_LIFE/terminate", {kOp}, true, none},
      {"GET", "/api/v1/protocols/XM_MAIN/recipients", {kOp, kSender}, false, none},
      {"POST", "/api/v1/exchanges", {kSender}, true, fixed(create_body)},
      {"GET", "/api/v1/exchanges?box=inbox", authenticated, false, none, "application/json",
       [&](const Caller& c, const HttpResult& r) { CHECK(ContainsId(r.Json(), e) == (c.kind == kRecipient)); }},
      {"GET", "/api/v1/exchanges?box=sent", authenticated, false, none, "application/json",
       [&](const Caller& c, const HttpResult& r) {
         CHECK(ContainsId(r.Json(), e) == (c.kind == kSender || c.kind == kDpoSend));
       }},
      {"GET", "/api/v1/exchanges/" + e, see_exchange, false, none},
      {"PUT", "/api/v1/exchanges/" + pend + "/content", {kSender}, true, fixed(blob_p), "application/octet-stream"},
      {"POST", "/api/v1/exchanges/upload", {kSender}, true, fixed(one_request_body), "application/vnd.xgw.exchange"},
      {"GET", "/api/v1/exchanges/" + e + "/content", {kRecipient}, false, none, "application/json",
       [&](const Caller&, const HttpResult& r) { CHECK(r.body == blob_e); }},
      {"POST", "/api/v1/exchanges/" + e + "/violations", {kRecipient}, true, fixed(R"({"code":"other"})")},
      {"POST", "/api/v1/exchanges/" + e + "/ack", {kRecipient}, true, none},
      {"POST", "/api/v1/exchanges/" + rv + "/revoke", {kSender}, true, none},
      {"GET", "/api/v1/exchanges/" + rv + "/receipt", see_exchange, false, none},
      {"POST", "/api/v1/exchanges/plaintext?protocol_id=XM_MAIN&format=csv", {kSender}, true,
       fixed(kHeader + Row(7)), "text/csv"},
      {"GET", "/api/v1/audit/events", audit_readers, false, none},
      {"GET", "/api/v1/audit/events?exchange=" + e, audit_readers, false, none, "application/json",
       [&](const Caller& c, const HttpResult& r) {
         // Parties' DPOs see the exchange's history; a third organisation's
         // DPO sees at most what their own users did.
         const json items = r.Json()["items"];
         if (c.kind == kDpoThird) {
           for (const auto& it : items) {
             const std::string actor = it["event"]["actor"].value("id", "");
             CHECK((actor == w.outsider.user || actor == w.dpo_third.user));
           }
         } else {
           CHECK(items.size() >= 2);
         }
       }},
      {"GET", "/api/v1/audit/events/" + event_index, {kOp, kDpoSend, kDpoRecv}, false, none},
      {"GET", "/api/v1/audit/checkpoint", audit_readers, false, none},
      {"POST", "/api/v1/audit/checkpoint", audit_readers, false, none},
      {"GET", "/api/v1/audit/proofs/inclusion?index=0&tree_size=2", audit_readers, false, none},
      {"GET", "/api/v1/audit/proofs/consistency?first=1&second=2", audit_readers, false, none},
      {"GET", "/api/v1/audit/verifier-key", authenticated, false, none},
      {"GET", "/api/v1/subject-index/" + *lookup, {kDpoSend, kDpoRecv, kDpoThird}, false, none, "application/json",
       [&](const Caller& c, const HttpResult& r) { CHECK(ContainsId(r.Json(), e) == (c.kind != kDpoThird)); }},
      {"GET", "/api/v1/admin/clock", {kOp}, false, none},
      {"POST", "/api/v1/admin/clock", {kOp}, true, fixed(R"({"advance_seconds":1200})")},
  };

  const auto route = [&](const std::string& method, const std::string& path) -> Route& {
    for (auto& r : routes) {
      if (r.method == method && r.path == path) return r;
    }
    FAIL("no route " << method << " " << path);
    throw std::logic_error("unreachable");
  };
  const auto exchange_path = [](const std::string& id, const std::string& verb) {
    return "/api/v1/exchanges/" + id + "/" + verb;
  };
  // 404, not 403: the caller holds a role the route grants, but its scope
  // does not reach the target (a protocol its organisation is no party to,
  // an exchange it may not see or receive, another organisation's event).
  // Every other authenticated refusal is 403.
  const Set may_not_receive = {kOp, kSender, kCleaner, kDpoSend, kDpoRecv, kOutsider, kDpoThird};
  const std::vector<std::tuple<std::string, std::string, Set>> not_found = {
      {"GET", "/api/v1/protocols/XM_MAIN", {kOutsider, kDpoThird}},
      {"GET", "/api/v1/protocols/XM_MAIN/versions", {kOutsider, kDpoThird}},
      {"POST", "/api/v1/protocols/XM_ACCEPT/accept", {kDpoThird}},
      {"GET", "/api/v1/protocols/XM_MAIN/recipients", {kOutsider}},
      {"GET", "/api/v1/exchanges/" + e, {kCleaner, kOutsider, kDpoThird}},
      {"PUT", exchange_path(pend, "content"), {kOutsider}},
      {"GET", exchange_path(e, "content"), may_not_receive},
      {"POST", exchange_path(e, "violations"), may_not_receive},
      {"POST", exchange_path(e, "ack"), may_not_receive},
      {"POST", exchange_path(rv, "revoke"), {kOutsider}},
      {"GET", exchange_path(rv, "receipt"), {kCleaner, kOutsider, kDpoThird}},
      {"POST", "/api/v1/exchanges/plaintext?protocol_id=XM_MAIN&format=csv", {kOutsider}},
      {"GET", "/api/v1/audit/events/" + event_index, {kDpoThird}},
  };
  for (const auto& [method, path, who] : not_found) route(method, path).not_found = who;
  {
    Route& r = route("POST", exchange_path(e, "ack"));
    r.fresh = [&] { return Target{exchange_path(fresh_available(), "ack"), ""}; };
    r.control = [&](const Target& t) { must_ok(Request(d, "POST", t.path, {.token = w.social.token})); };
  }
  {
    Route& r = route("POST", exchange_path(e, "violations"));
    r.fresh = [&] { return Target{exchange_path(fresh_available(), "violations"), R"({"code":"other"})"}; };
    r.control = [&](const Target& t) {
      must_ok(Request(d, "POST", t.path, {.token = w.social.token, .body = t.body}));
      ++fresh_reports;
    };
  }
  {
    Route& r = route("POST", exchange_path(rv, "revoke"));
    r.fresh = [&] { return Target{exchange_path(fresh_available(), "revoke"), ""}; };
    r.control = [&](const Target& t) { must_ok(Request(d, "POST", t.path, {.token = w.sender.token})); };
  }
  {
    Route& r = route("PUT", exchange_path(pend, "content"));
    r.fresh = [&] {
      ++fresh_exchanges;
      return Target{exchange_path(w.CreatePending(csv_p), "content"), blob_p};
    };
    r.control = [&](const Target& t) {
      must_ok(Request(d, "PUT", t.path,
                      {.token = w.sender.token, .body = t.body, .content_type = "application/octet-stream"}));
    };
  }
  {
    Route& r = route("POST", "/api/v1/protocols/XM_ACCEPT/accept");
    r.fresh = [&] {
      const json doc = fresh_protocol_doc();
      const std::string hash = w.Propose(doc);
      return Target{"/api/v1/protocols/" + doc["id"].get<std::string>() + "/accept",
                    json{{"version_hash", hash}}.dump()};
    };
    r.control = [&](const Target& t) { must_ok(Request(d, "POST", t.path, {.token = w.dpo_send.token, .body = t.body})); };
  }
  for (const std::string verb : {"activate", "suspend", "terminate"}) {
    Route& r = route("POST", "/api/v1/protocols/XM_LIFE/" + verb);
    r.fresh = [&, verb] {
      const json doc = fresh_protocol_doc();
      w.ProposeAcceptActivate(doc);
      if (verb == "activate") MustJson(w.Lifecycle(doc["id"], "suspend"), 200);
      return Target{"/api/v1/protocols/" + doc["id"].get<std::string>() + "/" + verb, ""};
    };
    r.control = [&](const Target& t) { must_ok(Request(d, "POST", t.path, {.token = d.operator_token()})); };
  }

  // A refusal leaves every table and the blob directory as they were; the
  // audit log may only have gained refusals (a refused request is recorded,
  // never as a success).
  const auto check_unchanged = [&](const std::string& store_before, const std::vector<std::string>& audit_before) {
    CHECK(LineDiff(store_before, StoreFingerprint(d)) == "");
    const std::vector<std::string> audit_after = AuditEventLines(d);
    REQUIRE(audit_after.size() >= audit_before.size());
    CHECK(std::equal(audit_before.begin(), audit_before.end(), audit_after.begin()));
    for (size_t i = audit_before.size(); i < audit_after.size(); ++i) {
      INFO("audit event added by the refusal: " << audit_after[i]);
      CHECK(audit_after[i].find("|success|") == std::string::npos);
    }
  };
  const auto now = [&]() -> int64_t {
    const std::string t = MustJson(Request(d, "GET", "/api/v1/admin/clock", {.token = d.operator_token()}), 200)["now"];
    std::tm tm{};
    REQUIRE(strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
    return static_cast<int64_t>(timegm(&tm));
  };

  int checked = 0, allowed_calls = 0, refused = 0;
  std::vector<std::string> unexpected;
  for (const auto& rt : routes) {
    for (const auto& c : callers) {
      const bool expect_ok = rt.allowed.count(c.kind) > 0;
      const bool unauthenticated = c.kind == kNoToken || c.kind == kExpired || c.kind == kRevoked;
      const long expect_refusal = unauthenticated ? 401 : rt.not_found.count(c.kind) ? 404 : 403;
      const Target target = !expect_ok && rt.fresh ? rt.fresh() : Target{rt.path, ""};
      const std::string store_before = expect_ok ? "" : StoreFingerprint(d);
      const std::vector<std::string> audit_before = expect_ok ? std::vector<std::string>{} : AuditEventLines(d);
      const int64_t clock_before = rt.path == "/api/v1/admin/clock" && !expect_ok ? now() : -1;
      auto r = Request(d, rt.method, target.path,
                       {.token = c.token, .body = target.body.empty() ? rt.body(c) : target.body,
                        .content_type = rt.content_type, .timeout_ms = 30000});
      INFO(rt.method << " " << target.path << " as " << c.name << " -> " << r.status << " " << r.body.substr(0, 300));
      const bool ok = r.status >= 200 && r.status < 300;
      if (ok != expect_ok || (!expect_ok && r.status != expect_refusal)) {
        unexpected.push_back(rt.method + " " + rt.path + " as " + c.name + ": " + std::to_string(r.status) +
                             (expect_ok ? "" : ", expected " + std::to_string(expect_refusal)));
      }
      if (expect_ok) {
        CHECK(ok);
        if (ok && rt.check) rt.check(c, r);
        ++allowed_calls;
      } else {
        CHECK(r.status == expect_refusal);
        CHECK(IsProblem(r));
        // A refusal leaks nothing of the exchange's bytes and changes nothing.
        CHECK(r.body.find(blob_e.substr(0, 64)) == std::string::npos);
        check_unchanged(store_before, audit_before);
        // The manual clock also ticks with real time; an advance is 1200 s.
        if (clock_before >= 0) CHECK(now() - clock_before < 600);
        if (rt.control) rt.control(target);
        ++refused;
      }
      ++checked;
    }
  }
  for (const auto& u : unexpected) WARN("unexpected: " << u);
  CHECK(refused > 0);
  CHECK(checked == static_cast<int>(routes.size() * callers.size()));

  // The intended changes, and only those, happened.
  json e_now = MustJson(Request(d, "GET", "/api/v1/exchanges/" + e, {.token = w.sender.token}), 200);
  CHECK(e_now["state"] == "acknowledged");
  CHECK(MustJson(Request(d, "GET", "/api/v1/exchanges/" + rv, {.token = w.sender.token}), 200)["state"] == "revoked");
  CHECK(MustJson(Request(d, "GET", "/api/v1/exchanges/" + pend, {.token = w.sender.token}), 200)["state"] ==
        "available");
  // E, RV, PEND, one created by the sender (pending), one uploaded in one
  // request (never pending), one plaintext upload; and the fresh targets of
  // refused calls, each completed by its control.
  CHECK(w.DbDump("SELECT COUNT(*) FROM exchanges;") == std::to_string(6 + fresh_exchanges) + "\n");
  CHECK(w.DbDump("SELECT COUNT(*) FROM exchanges WHERE state = 'pending';") == "1\n");
  CHECK(w.DbDump("SELECT COUNT(*) FROM violation_reports;") == std::to_string(1 + fresh_reports) + "\n");
  CHECK(w.DbDump("SELECT id, state FROM protocols WHERE id NOT LIKE 'XM_FRESH_%' ORDER BY id;") ==
        "XM_ACCEPT|valid\nXM_LIFE|terminated\nXM_MAIN|valid\nXM_NEW|proposed\n");
  CHECK(w.DbDump("SELECT COUNT(*) FROM protocols WHERE id LIKE 'XM_FRESH_%';") ==
        std::to_string(fresh_protocols.size()) + "\n");
  CHECK(d.StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(d.dir() + "/state");
}

namespace {

// A streaming PUT through libcurl: the body is handed over in 64 KiB pieces,
// optionally with a pause after each, so that the upload is in flight for a while.
struct StreamingUpload {
  std::string url, token, cacert, data;
  int pause_ms = 0;
  std::atomic<bool> hold{false};  // while set, nothing more is sent after the first piece
  size_t pos = 0;
  std::atomic<size_t> sent{0};
  long status = 0;
  std::string response;
  std::atomic<bool> done{false};  // Run returned: status and response are final

  static size_t Read(char* buf, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<StreamingUpload*>(self_ptr);
    if (self->pause_ms > 0 && self->pos > 0) std::this_thread::sleep_for(std::chrono::milliseconds(self->pause_ms));
    while (self->hold.load() && self->pos > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const size_t k = std::min({size * n, size_t{64 * 1024}, self->data.size() - self->pos});
    std::memcpy(buf, self->data.data() + self->pos, k);
    self->pos += k;
    self->sent.store(self->pos);
    return k;
  }
  static size_t Write(char* p, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
  }

  void Run() {
    CURL* curl = curl_easy_init();
    if (!curl) return;
    curl_slist* headers = nullptr;
    const std::string auth = "Authorization: Bearer " + token;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(data.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &StreamingUpload::Read);
    curl_easy_setopt(curl, CURLOPT_READDATA, this);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &StreamingUpload::Write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_CAINFO, cacert.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    done = true;
  }
};

}  // namespace

TEST_CASE("KillNineDuringFourConcurrentStreamingUploadsLosesNoAcknowledgedExchange") {
  World w;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  // Lists of about 2.5 MiB each (1200 rows of ~2 KB): above the size from
  // which xgwd writes blobs with direct I/O on a writer thread of their own.
  auto list = [](int salt) {
    std::string csv = kHeader;
    for (int i = 0; i < 1200; ++i) csv += Row((salt * 1200 + i) % 900 + 1, 1950);
    return csv;
  };
  constexpr int kDone = 2, kStreams = 5;  // stream 0 runs unthrottled and is answered before the kill
  std::vector<std::string> ids, blobs;
  for (int i = 0; i < kDone + kStreams; ++i) {
    const std::string csv = list(i);
    ids.push_back(w.CreatePending(csv));
    blobs.push_back(w.Encrypt(csv));
    REQUIRE(blobs.back().size() > 2 * 1024 * 1024);
  }
  // Completed and acknowledged before the crash.
  for (int i = 0; i < kDone; ++i) {
    MustJson(w.Upload(ids[static_cast<size_t>(i)], blobs[static_cast<size_t>(i)]), 200);
    json ack = MustJson(Request(*w.d, "POST", "/api/v1/exchanges/" + ids[static_cast<size_t>(i)] + "/ack",
                                {.token = w.social.token}),
                        200);
    CHECK(ack["state"] == "acknowledged");
  }
  std::vector<std::unique_ptr<StreamingUpload>> ups;
  for (int s = 0; s < kStreams; ++s) {
    auto u = std::make_unique<StreamingUpload>();
    const size_t k = static_cast<size_t>(kDone + s);
    u->url = w.d->base_url() + "/api/v1/exchanges/" + ids[k] + "/content";
    u->token = w.sender.token;
    u->cacert = w.d->cacert();
    u->data = blobs[k];
    u->pause_ms = s == 0 ? 0 : 40;
    ups.push_back(std::move(u));
  }
  std::vector<std::thread> threads;
  for (auto& u : ups) threads.emplace_back([p = u.get()] { p->Run(); });
  // Kill once stream 0 was answered and every throttled upload is well under
  // way but none is finished.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = ups[0]->done.load();
    for (int s = 1; s < kStreams; ++s) all = all && ups[static_cast<size_t>(s)]->sent.load() >= 512 * 1024;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(ups[0]->done.load());
  for (int s = 1; s < kStreams; ++s) CHECK(ups[static_cast<size_t>(s)]->sent.load() < blobs[static_cast<size_t>(kDone + s)].size());
  REQUIRE(w.d->StopAndWait(SIGKILL) == 128 + SIGKILL);
  for (auto& t : threads) t.join();
  // A 200 is the daemon's promise that the exchange is stored: the two
  // uploaded before and stream 0, answered before the kill.
  {
    INFO(ups[0]->response);
    REQUIRE(ups[0]->status == 200);
  }
  std::set<std::string> acknowledged(ids.begin(), ids.begin() + kDone);
  acknowledged.insert(ids[static_cast<size_t>(kDone)]);
  for (int s = 1; s < kStreams; ++s) {
    INFO("stream " << s << " status " << ups[static_cast<size_t>(s)]->status);
    CHECK(ups[static_cast<size_t>(s)]->status == 0);  // cut off by the kill: never answered
  }

  w.d->Restart();
  // The start-up sweep removes every partial upload.
  int status = 0;
  std::string tmp_files;
  for (int i = 0; i < 50; ++i) {
    tmp_files = RunCommand("find " + w.d->dir() + "/state/blobs/tmp -type f | wc -l", &status);
    if (tmp_files == "0\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(tmp_files == "0\n");
  json inbox = MustJson(Request(*w.d, "GET", "/api/v1/exchanges?box=inbox", {.token = w.social.token}), 200);
  size_t live = 0;
  for (size_t k = 0; k < ids.size(); ++k) {
    INFO("exchange " << k);
    json one = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + ids[k], {.token = w.sender.token}), 200);
    const std::string state = one["state"];
    const std::string blob_path = w.d->dir() + "/state/blobs/" + ids[k] + ".age";
    RunCommand("test -e " + blob_path, &status);
    const bool has_blob = status == 0;
    if (acknowledged.count(ids[k])) {
      CHECK((state == "available" || state == "acknowledged"));
      if (k < static_cast<size_t>(kDone)) CHECK(state == "acknowledged");
    }
    if (state == "available" || state == "acknowledged") {
      ++live;
      CHECK(has_blob);
      CHECK(ContainsId(inbox, ids[k]));
      auto dl = Request(*w.d, "GET", "/api/v1/exchanges/" + ids[k] + "/content",
                        {.token = w.social.token, .timeout_ms = 60000});
      REQUIRE(dl.status == 200);
      CHECK(dl.body == blobs[k]);
    } else {
      CHECK(state == "pending");
      CHECK_FALSE(has_blob);
      CHECK_FALSE(ContainsId(inbox, ids[k]));
    }
  }
  // Every answered upload is live; an unanswered one may be too (committed
  // just before the kill).
  for (const auto& id : acknowledged) {
    INFO(id);
    CHECK(MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + id, {.token = w.sender.token}), 200)["state"] !=
          "pending");
  }
  CHECK(live >= acknowledged.size());
  // Exactly the live exchanges have a blob; nothing else is left behind.
  CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -type f | wc -l", &status) == std::to_string(live) + "\n");
  // An interrupted exchange can still be completed after the restart.
  for (size_t k = 0; k < ids.size(); ++k) {
    json one = MustJson(Request(*w.d, "GET", "/api/v1/exchanges/" + ids[k], {.token = w.sender.token}), 200);
    if (one["state"] == "pending") {
      MustJson(w.Upload(ids[k], blobs[k]), 200);
      break;
    }
  }
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

namespace {

// A two-request upload of a list of ~400 KB started and then held after its
// first 64 KiB: the exchange is pending, its content in flight.
struct HeldUpload {
  HeldUpload(World& w, const std::string& csv) : id(w.CreatePending(csv)) {
    u.url = w.d->base_url() + "/api/v1/exchanges/" + id + "/content";
    u.token = w.sender.token;
    u.cacert = w.d->cacert();
    u.data = w.Encrypt(csv);
    REQUIRE(u.data.size() > 2 * 64 * 1024);
    u.hold = true;
    thread = std::thread([this] { u.Run(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (u.sent.load() == 0 && !u.done.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    INFO("upload status " << u.status << " " << u.response);
    REQUIRE(u.sent.load() > 0);  // (the destructor releases and joins the thread)
  }
  ~HeldUpload() { Release(); }
  // Sends the rest and waits for the answer.
  void Release() {
    u.hold = false;
    if (thread.joinable()) thread.join();
  }
  std::string id;
  StreamingUpload u;
  std::thread thread;
};

std::string ListOf400Kb() {
  std::string csv = kHeader;
  for (int i = 0; i < 200; ++i) csv += Row(i % 900 + 1, 1950);
  return csv;
}

// The end of every test where uploads were refused or ended: no blob is left
// in the state directory, the daemon stops on SIGTERM, the audit log verifies.
void CheckNoBlobLeftThenStop(World& w) {
  int status = 0;
  CHECK(RunCommand("find " + w.d->dir() + "/state/blobs -type f | wc -l", &status) == "0\n");
  CHECK(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

}  // namespace

// A pending exchange can end while its content still streams in: the
// sweeper discards it at its upload timeout (the timeout bounds how long a
// sender may take), or its sender revokes it. That upload must then be
// refused as no longer expected, not fail with a server error, and leave
// nothing behind.
TEST_CASE("AnUploadStillStreamingWhenItsExchangeEndsIsRefusedAndLeavesNothing") {
  World w;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  HeldUpload up(w, ListOf400Kb());
  std::string ended_as;
  SECTION("discarded by the sweeper") {
    w.Advance(2 * 3600);  // past the default pending timeout (1 h)
    ended_as = "discarded";
  }
  SECTION("revoked by its sender") {
    MustJson(Request(*w.d, "POST", "/api/v1/exchanges/" + up.id + "/revoke", {.token = w.sender.token}), 200);
    ended_as = "revoked";
  }
  const bool ended = w.WaitForState(up.id, ended_as);
  up.Release();
  REQUIRE(ended);
  INFO(up.u.response);
  CHECK(up.u.status == 409);
  CHECK(up.u.response.find("no longer pending") != std::string::npos);
  CHECK(w.State(up.id) == ended_as);
  CheckNoBlobLeftThenStop(w);
}

// An operator suspends the protocol while an upload under it streams: the
// protocol's state is decided again in the transaction that would make the
// exchange available, so the upload is refused and nothing is kept (it used
// to become available under a protocol that no longer allowed it; after a
// termination that keeps data, or a one-request upload, the same way).
TEST_CASE("AnUploadCompletingAfterItsProtocolStoppedIsRefusedAndNothingIsKept") {
  World w;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  HeldUpload up(w, ListOf400Kb());
  MustJson(Request(*w.d, "POST", "/api/v1/protocols/XM_MAIN/suspend", {.token = w.d->operator_token()}), 200);
  up.Release();
  INFO(up.u.response);
  CHECK(up.u.status == 422);
  CHECK(up.u.response.find("protocol_suspended") != std::string::npos);
  CHECK(w.State(up.id) == "discarded");
  CheckNoBlobLeftThenStop(w);
}

// A termination that deletes data while uploads under the protocol are
// completing: each exchange ends exactly once, either deleted by the
// termination or refused at its publication (the termination waits for an
// upload it meets half-published), never both, and no blob is left.
TEST_CASE("TerminatingAProtocolWhileUploadsCompleteEndsEachExchangeOnce") {
  World w;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  const std::string csv = kHeader + Row(1);
  const std::string create_body = w.CreateBody(csv);
  const std::string blob = w.Encrypt(csv);
  constexpr int kSenders = 6;
  std::atomic<bool> terminated{false};
  std::atomic<int> uploaded{0};
  std::mutex ids_mu;
  std::vector<std::string> ids;
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&] {
      // Until the protocol refuses new exchanges, plus one round after it.
      for (bool last = false; !last;) {
        last = terminated.load();
        auto c = Request(*w.d, "POST", "/api/v1/exchanges", {.token = w.sender.token, .body = create_body});
        if (c.status != 201) continue;
        const std::string id = c.Json()["id"];
        {
          std::lock_guard lock(ids_mu);
          ids.push_back(id);
        }
        if (w.Upload(id, blob).status == 200) ++uploaded;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (uploaded.load() < 3 * kSenders && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool enough = uploaded.load() >= 3 * kSenders;
  const HttpResult terminate = w.Lifecycle("XM_MAIN", "terminate");
  terminated = true;
  for (auto& s : senders) s.join();
  REQUIRE(enough);
  json t = MustJson(terminate, 200);
  CHECK(t["exchanges_deleted"].get<int>() >= 3 * kSenders);
  REQUIRE(!ids.empty());
  for (const auto& id : ids) {
    INFO(id);
    const std::string state = w.State(id);
    CHECK((state == "deleted" || state == "discarded"));
    json events = MustJson(Request(*w.d, "GET", "/api/v1/audit/events?limit=1000&exchange=" + id,
                                   {.token = w.d->operator_token()}),
                           200)["items"];
    int endings = 0;
    for (const auto& e : events) {
      const std::string action = e["event"]["action"];
      endings += action == "exchange.deleted" || action == "exchange.refused" ? 1 : 0;
    }
    CHECK(endings == 1);
  }
  CheckNoBlobLeftThenStop(w);
}

namespace {

// The same id with a different last character: valid syntax, no such exchange.
std::string UnknownIdLike(const std::string& id) {
  std::string u = id;
  u.back() = u.back() == 'a' ? 'b' : 'a';
  return u;
}

}  // namespace

TEST_CASE("AnExchangeTheCallerMayNotSeeAnswersExactlyLikeAnUnknownId") {
  World w;
  Daemon& d = *w.d;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  // PEND is pending: it exists for the sender's organisation only.
  const std::string csv = kHeader + Row(1);
  const std::string pend = w.CreatePending(csv);
  const std::string unknown = UnknownIdLike(pend);
  const std::string blob = w.Encrypt(csv);

  struct Call {
    std::string method, suffix, body, content_type;
  };
  const std::vector<Call> calls = {
      {"GET", "", "", "application/json"},
      {"GET", "/content", "", "application/json"},
      {"GET", "/receipt", "", "application/json"},
      {"POST", "/ack", "", "application/json"},
      {"POST", "/violations", R"({"code":"other"})", "application/json"},
      {"POST", "/revoke", "", "application/json"},
      {"PUT", "/content", blob, "application/octet-stream"},
  };
  const std::vector<std::pair<std::string, std::string>> callers = {
      {"allowed recipient", w.social.token}, {"recipient-org user", w.cleaner.token},
      {"dpo of receiving party", w.dpo_recv.token}, {"third-org sender", w.outsider.token},
      {"third-org dpo", w.dpo_third.token}};
  const auto answers_like_unknown = [&] {
    const std::string before = w.DbDump("SELECT id, state FROM exchanges; SELECT COUNT(*) FROM violation_reports;");
    for (const auto& call : calls) {
      for (const auto& [name, token] : callers) {
        RequestOptions o{.token = token, .body = call.body, .content_type = call.content_type};
        auto hidden = Request(d, call.method, "/api/v1/exchanges/" + pend + call.suffix, o);
        auto absent = Request(d, call.method, "/api/v1/exchanges/" + unknown + call.suffix, o);
        INFO(call.method << " " << call.suffix << " as " << name << ": " << hidden.status << " " << hidden.body
                         << " vs " << absent.status << " " << absent.body);
        CHECK(hidden.status == absent.status);
        CHECK(hidden.status >= 400);
        CHECK(hidden.status != 409);
        CHECK(hidden.status != 410);
        const json h = hidden.Json(), a = absent.Json();
        for (const char* k : {"type", "title", "detail"}) CHECK(h.value(k, "") == a.value(k, ""));
      }
    }
    // Nothing changed.
    CHECK(w.DbDump("SELECT id, state FROM exchanges; SELECT COUNT(*) FROM violation_reports;") == before);
  };
  answers_like_unknown();
  CHECK(MustJson(Request(d, "GET", "/api/v1/exchanges/" + pend, {.token = w.sender.token}), 200)["state"] ==
        "pending");
  // Revoked before its content arrived: still nothing the others can see.
  MustJson(Request(d, "POST", "/api/v1/exchanges/" + pend + "/revoke", {.token = w.sender.token}), 200);
  answers_like_unknown();
  CHECK(MustJson(Request(d, "GET", "/api/v1/exchanges/" + pend, {.token = w.sender.token}), 200)["state"] ==
        "revoked");
  CHECK(d.StopAndWait(SIGTERM) == 0);
}

TEST_CASE("ViolationReportsAreAcceptedOnlyAboutDeliveredContent") {
  World w;
  Daemon& d = *w.d;
  w.ProposeAcceptActivate(ProtocolDoc("XM_MAIN"));
  const auto report = [&](const std::string& id) {
    return Request(d, "POST", "/api/v1/exchanges/" + id + "/violations",
                   {.token = w.social.token, .body = R"({"code":"hash_mismatch"})"});
  };
  const auto reports = [&] { return w.DbDump("SELECT COUNT(*) FROM violation_reports;"); };

  // Pending: not there for the recipient yet.
  const std::string csv1 = kHeader + Row(1);
  const std::string pend = w.CreatePending(csv1);
  CHECK(report(pend).status == 404);
  CHECK(reports() == "0\n");

  // Available: accepted.
  MustJson(w.Upload(pend, w.Encrypt(csv1)), 200);
  CHECK(report(pend).status == 201);
  CHECK(reports() == "1\n");

  // Revoked before anyone downloaded it: 409, with a reason, nothing stored.
  const std::string csv2 = kHeader + Row(2);
  const std::string early = w.CreatePending(csv2);
  MustJson(w.Upload(early, w.Encrypt(csv2)), 200);
  MustJson(Request(d, "POST", "/api/v1/exchanges/" + early + "/revoke", {.token = w.sender.token}), 200);
  auto refused = report(early);
  CHECK(refused.status == 409);
  CHECK(refused.content_type == "application/problem+json");
  CHECK(refused.Json()["detail"].get<std::string>().find("before its content was downloaded") != std::string::npos);
  CHECK(reports() == "1\n");

  // Revoked after the recipient downloaded it: the report is still welcome.
  const std::string csv3 = kHeader + Row(3);
  const std::string late = w.CreatePending(csv3);
  MustJson(w.Upload(late, w.Encrypt(csv3)), 200);
  REQUIRE(Request(d, "GET", "/api/v1/exchanges/" + late + "/content", {.token = w.social.token}).status == 200);
  MustJson(Request(d, "POST", "/api/v1/exchanges/" + late + "/revoke", {.token = w.sender.token}), 200);
  CHECK(report(late).status == 201);
  CHECK(reports() == "2\n");

  // Acknowledged: accepted as well.
  MustJson(Request(d, "POST", "/api/v1/exchanges/" + pend + "/ack", {.token = w.social.token}), 200);
  CHECK(report(pend).status == 201);
  CHECK(reports() == "3\n");
  CHECK(d.StopAndWait(SIGTERM) == 0);
}

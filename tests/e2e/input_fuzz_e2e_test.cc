// The running daemon against mutated requests: every JSON body, query string
// and list it accepts, taken from a valid request and mutated (values of the
// wrong type or size, broken bytes, see tests/fuzz/mutator.h), sent by a
// caller allowed to make the valid request. Whatever the input, xgwd must
// answer it with a 2xx or with a 4xx problem that says what is wrong, never a
// 5xx (an exception that escaped a handler answers 500), must stay alive,
// and its audit log must verify afterwards. XGW_FUZZ_ITERATIONS (per
// request, default 60) and XGW_FUZZ_SEED choose the run.
#include <catch2/catch.hpp>

#include <signal.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/age.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "tests/e2e/cir_world.h"
#include "tests/fuzz/mutator.h"

using namespace xgw;
using namespace xgw::e2e;
using nlohmann::json;

namespace {

// A valid request; `json_body` says whether its body is JSON (mutated as
// values too) or bytes (a list, a one-request upload).
struct Template {
  std::string name, method, path, body, token, content_type = "application/json";
  bool json_body = true;
};

// Percent-encodes every byte outside the unreserved set, so that a mutated
// query string is still a URL the client can send.
std::string PercentEncode(const std::string& s) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '=' || c == '&') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("MutatedRequestsGetAnAnswerNeverAServerErrorAndTheDaemonStaysWhole") {
  CirWorld w(CirPeriodicProtocolDoc("FUZZ_MAIN"));
  w.ProposeAcceptActivate();
  const std::string op = w.d->operator_token();
  const std::string csv = kCirHeader + CirRow(1) + CirRow(2);
  const std::string sent = w.Send(csv);
  // Received, so that violation reports about it reach their checks.
  REQUIRE(Request(*w.d, "GET", "/api/v1/exchanges/" + sent + "/content", {.token = w.social.token}).status == 200);
  const std::string age_key = age::X25519Identity::Generate().Recipient().String();
  const std::string ed_key = Base64Encode(Ed25519SecretKey::Generate().public_key());
  json other_protocol = CirPeriodicProtocolDoc("FUZZ_OTHER");
  const std::string other_hash = MustJson(w.ProposeRequest(other_protocol), 201)["version_hash"];
  const std::string create_line = w.CreateBody(csv);

  const std::vector<Template> templates = {
      {"register an organisation", "POST", "/api/v1/orgs",
       R"({"name":"Fuzz","enterprise_number":"0212.214.125","dpo_contact":"dpo@example.org","client_cert_pins":[]})", op},
      {"register a user", "POST", "/api/v1/orgs/" + w.ocmw + "/users", R"({"display_name":"u","roles":["dpo"]})", op},
      {"set keys", "PUT", "/api/v1/users/" + w.cleaner.user + "/keys",
       json{{"age_recipient", age_key}, {"ed25519_verify_key", ed_key}}.dump(), op},
      {"issue a token", "POST", "/api/v1/users/" + w.cleaner.user + "/tokens", R"({"ttl_seconds":3600,"label":"x"})",
       op},
      {"set roles", "PUT", "/api/v1/users/" + w.cleaner.user + "/roles", R"({"roles":["facility"]})", op},
      {"add a pin", "POST", "/api/v1/orgs/" + w.third + "/client-pins", json{{"pin", "sha256:" + std::string(64, 'a')}}.dump(),
       op},
      {"propose a protocol", "POST", "/api/v1/protocols", CirPeriodicProtocolDoc("FUZZ_NEW").dump(), op},
      {"accept a protocol", "POST", "/api/v1/protocols/FUZZ_OTHER/accept",
       json{{"version_hash", other_hash}, {"organisation", w.thuispunt}}.dump(), op},
      {"create an exchange", "POST", "/api/v1/exchanges", create_line, w.sender.token},
      {"report a violation", "POST", "/api/v1/exchanges/" + sent + "/violations",
       R"({"code":"manifest_mismatch","details":[{"code":"invalid_value","row":2,"column":"status"},"other"]})",
       w.social.token},
      {"advance the clock", "POST", "/api/v1/admin/clock", R"({"advance_seconds":1})", op},
      {"send a list in the clear", "POST", "/api/v1/exchanges/plaintext?protocol_id=FUZZ_MAIN&format=csv", csv,
       w.sender.token, "text/csv", false},
      {"one-request upload", "POST", "/api/v1/exchanges/upload", create_line + "\n" + w.Encrypt(csv), w.sender.token,
       "application/vnd.xgw.exchange", false},
  };
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"/api/v1/audit/events?", "action=exchange.uploaded&limit=5&after=3&from=2024-09-01T00:00:00Z"},
      {"/api/v1/exchanges?", "box=sent&limit=2&after=x"},
      {"/api/v1/audit/proofs/inclusion?", "index=1&tree_size=4"},
      {"/api/v1/audit/proofs/consistency?", "first=1&second=3"},
  };

  const uint64_t iterations = fuzz::EnvNumber("XGW_FUZZ_ITERATIONS", 60);
  fuzz::Mutator m(fuzz::EnvNumber("XGW_FUZZ_SEED", 1) * 7919);
  std::vector<std::string> corpus;
  for (const auto& t : templates) corpus.push_back(t.body);
  uint64_t accepted = 0, refused = 0;
  auto check_answer = [&](const std::string& what, const HttpResult& r) {
    INFO(what << " -> " << r.status << " " << r.curl_error << " " << r.body.substr(0, 400));
    REQUIRE(r.status > 0);  // answered
    CHECK(r.status < 500);
    if (r.status >= 400) CHECK(IsProblem(r));
    (r.status < 400 ? accepted : refused)++;
  };
  for (const auto& t : templates) {
    for (uint64_t i = 0; i < iterations; ++i) {
      std::string body = m.Mutate(t.body, corpus);
      if (t.json_body && m.Below(2) == 0) {
        json doc = json::parse(t.body, nullptr, false);
        if (!doc.is_discarded()) body = fuzz::MutateJsonValue(doc, m).dump();
      }
      auto r = Request(*w.d, t.method, t.path, {.token = t.token, .body = body, .content_type = t.content_type});
      check_answer(t.name + " #" + std::to_string(i), r);
    }
  }
  for (const auto& [path, query] : queries) {
    for (uint64_t i = 0; i < iterations; ++i) {
      auto r = Request(*w.d, "GET", path + PercentEncode(m.Mutate(query, {query})), {.token = op});
      check_answer(path + " #" + std::to_string(i), r);
    }
  }
  // The mutations reached past the first check: some were still valid.
  INFO(accepted << " accepted, " << refused << " refused");
  CHECK(accepted > 0);
  CHECK(refused > 0);
  // Still whole: answers, and still does its job.
  MustJson(Request(*w.d, "GET", "/healthz", {}), 200);
  w.Send(csv);
  REQUIRE(w.d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(w.d->dir() + "/state");
}

// The same below HTTP: mutated request bytes (request line, headers, lengths,
// chunked framing, pipelined requests) over raw TLS. An answer, if the bytes
// make one, is an HTTP response with a non-5xx status; then the daemon still
// answers well-formed requests and stops cleanly. XGW_FUZZ_ITERATIONS / 3
// requests (default 20).
TEST_CASE("MutatedHttpFramingIsAnsweredOrClosedAndTheDaemonStaysUp") {
  auto d = Daemon::Start({{"limits", {{"max_header_bytes", 8192}, {"max_json_body_bytes", 8192}}}});
  const std::string op = d->operator_token();
  const std::string head = "Host: x\r\nAuthorization: Bearer " + op + "\r\n";
  const std::string body = R"({"name":"Fuzz"})";
  const std::vector<std::string> seeds = {
      "GET /api/v1/me HTTP/1.1\r\n" + head + "Connection: close\r\n\r\n",
      "POST /api/v1/orgs HTTP/1.1\r\n" + head + "Content-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
      "POST /api/v1/orgs HTTP/1.1\r\n" + head +
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\n{\"na\r\n" +
          std::to_string(body.size() - 4) + "\r\n" + body.substr(4) + "\r\n0\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/orgs HTTP/1.1\r\n" + head + "Connection: close\r\n\r\n",
      // Trailer fields, one of them longer than Beast can hold in a field
      // (a 65,600-byte trailer once ended the daemon).
      "POST /api/v1/orgs HTTP/1.1\r\n" + head +
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
          std::to_string(body.size()) + "\r\n" + body + "\r\n0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n",
      "POST /api/v1/orgs HTTP/1.1\r\n" + head +
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
          std::to_string(body.size()) + "\r\n" + body + "\r\n0\r\nX-Long: " + std::string(65600, 't') +
          "\r\n\r\n",
      "GET /api/v1/audit/events?limit=1&action=http.request HTTP/1.1\r\n" + head + "Connection: close\r\n\r\n",
  };
  const uint64_t iterations = std::max<uint64_t>(1, fuzz::EnvNumber("XGW_FUZZ_ITERATIONS", 60) / 3);
  fuzz::Mutator m(fuzz::EnvNumber("XGW_FUZZ_SEED", 1) * 104729);
  uint64_t answered = 0;
  for (uint64_t i = 0; i < iterations * seeds.size(); ++i) {
    const std::string bytes = m.Mutate(seeds[i % seeds.size()], seeds);
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send(bytes);
    // Mutated lengths may leave the daemon waiting for more: it answers
    // what it can judge at once, and times the rest out itself.
    const std::string out = c.ReadAll(150);
    INFO("request #" << i << " answered: " << out.substr(0, 200));
    if (out.empty()) continue;
    ++answered;
    REQUIRE(out.rfind("HTTP/1.1 ", 0) == 0);
    // Every answer on the connection (a pipelined request gets its own).
    for (size_t at = out.find("HTTP/1.1 "); at != std::string::npos; at = out.find("HTTP/1.1 ", at + 1)) {
      const int status = std::atoi(out.c_str() + at + 9);
      CHECK(status >= 100);
      // 501: a transfer coding xgwd does not implement (RFC 9112 §6.1), a
      // deliberate answer; any other 5xx is a failure.
      CHECK((status < 500 || status == 501));
    }
  }
  CHECK(answered > 0);
  MustJson(Request(*d, "GET", "/healthz", {}), 200);
  MustJson(Request(*d, "GET", "/api/v1/me", {.token = op}), 200);
  REQUIRE(d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(d->dir() + "/state");
}

// End-to-end tests of what one hostile client can do to the daemon, and what
// it must not: crash it with a long trailer field, hold its memory with idle
// gateway-encrypt uploads, take every connection from one address, trickle a
// body, or frame a request two ways. Each starts the real xgwd and speaks raw
// TLS or plain TCP to it on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cir_world.h"
#include "tests/e2e/harness.h"

using namespace xgw::e2e;
using nlohmann::json;

namespace {

long Metric(const Daemon& d, const std::string& name) {
  auto r = Request(d, "GET", "/metrics", {.token = d.operator_token()});
  REQUIRE(r.status == 200);
  return MetricValue(r.body, name);
}

// The status code of the first response in raw HTTP bytes, 0 if none.
int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

// A plain TCP connection from a chosen loopback source address: it holds a
// connection slot (the daemon waits for its TLS handshake) without a login.
class TcpFrom {
 public:
  TcpFrom(const std::string& source, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, source.c_str(), &from.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~TcpFrom() { ::close(fd_); }
  TcpFrom(const TcpFrom&) = delete;
  TcpFrom& operator=(const TcpFrom&) = delete;

  // True if the daemon closed the connection within `timeout_ms`.
  bool ClosedByPeer(int timeout_ms) {
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int fd_ = -1;
};

std::string ChunkedPost(const std::string& path, const std::string& token,
                        const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/json\r\n" + extra_headers + "\r\n";
}

}  // namespace

// Boost.Beast throws std::length_error for a field over 65,535 bytes; in a
// chunked body's trailer nothing bounded it, and the throw ended the daemon.
TEST_CASE("ATrailerFieldLongerThanBeastCanHoldIsRefusedAndTheDaemonLivesOn") {
  auto d = Daemon::Start();
  RawTls c(d->port(), d->cacert());
  REQUIRE(c.connected());
  const std::string head =
      ChunkedPost("/api/v1/orgs", d->operator_token(), "Transfer-Encoding: chunked\r\n");
  c.Send(head + "2\r\n{}\r\n0\r\nX-T: " + std::string(65600, 't') + "\r\n\r\n");
  const int status = StatusOf(c.ReadAll(5000));
  CHECK(status == 431);
  REQUIRE(d->Alive());
  CHECK(Request(*d, "GET", "/healthz").status == 200);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("AHeaderFieldAtTheLargestHeaderLimitIsAnsweredAndTheDaemonLivesOn") {
  auto d = Daemon::Start({{"limits", {{"max_header_bytes", 65536}}}});
  for (size_t filler : {size_t{60000}, size_t{65400}, size_t{70000}}) {
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(filler, 'h') + "\r\n\r\n");
    const int status = StatusOf(c.ReadAll(5000));
    INFO("header field of " << filler << " bytes answered " << status);
    CHECK((status == 200 || status == 431));
    REQUIRE(d->Alive());
  }
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("RequestsFramedTwoWaysOrWithUnknownCodingsAreRefusedPerRfc9112") {
  auto d = Daemon::Start();
  const std::string& op = d->operator_token();
  struct Case {
    const char* name;
    std::string headers;
    std::string body;
    int status;
  };
  const std::vector<Case> cases = {
      {"gzip before chunked", "Transfer-Encoding: gzip, chunked\r\n", "2\r\n{}\r\n0\r\n\r\n", 501},
      {"chunked, identity with a length", "Transfer-Encoding: chunked, identity\r\nContent-Length: 2\r\n",
       "{}", 400},
      {"chunked with a length", "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
       "2\r\n{}\r\n0\r\n\r\n", 400},
      {"chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
       "2\r\n{}\r\n0\r\n\r\n", 400},
      {"identity alone", "Transfer-Encoding: identity\r\n", "{}", 400},
  };
  const size_t orgs_before = Request(*d, "GET", "/api/v1/orgs", {.token = op}).Json()["items"].size();
  for (const auto& k : cases) {
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send(ChunkedPost("/api/v1/orgs", op, k.headers) + k.body);
    const std::string out = c.ReadAll(3000);
    INFO(k.name);
    CHECK(StatusOf(out) == k.status);
    CHECK(out.find("application/problem+json") != std::string::npos);
  }
  CHECK(Request(*d, "GET", "/api/v1/orgs", {.token = op}).Json()["items"].size() == orgs_before);
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

// A client that sends its whole body without waiting for 100-continue must
// read the refusal, not a reset: closing with the body unread made the kernel
// answer the unread bytes with RST, which could destroy the 413 in flight (CI
// saw curl get no answer at all). The daemon now half-closes and reads what is
// still coming, within bounds, before it closes (RFC 9112 section 9.6).
TEST_CASE("ABodyOverTheLimitSentWithoutWaitingIsAnsweredNotReset") {
  auto d = Daemon::Start({{"limits", {{"max_json_body_bytes", 2048}}}});
  const std::string& op = d->operator_token();
  for (const size_t size : {size_t{70000}, size_t{1} << 20}) {
    for (int i = 0; i < 10; ++i) {
      RawTls c(d->port(), d->cacert());
      REQUIRE(c.connected());
      const bool sent = c.Send("POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + op +
                               "\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(size) + "\r\n\r\n" + std::string(size, ' '));
      const auto start = std::chrono::steady_clock::now();
      const int status = StatusOf(c.ReadAll(5000));
      INFO("body of " << size << " bytes, try " << i << ", sent whole: " << sent);
      CHECK(status == 413);
      // The daemon ends the connection once it answered; the client is not
      // left waiting for its read timeout.
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
    }
  }
  // The same through libcurl (the CLI's and the tests' HTTP client).
  for (int i = 0; i < 20; ++i) {
    const auto r = Request(*d, "POST", "/api/v1/orgs", {.token = op, .body = std::string(70000, ' ')});
    INFO("try " << i << ": " << r.curl_error);
    CHECK(r.status == 413);
  }
  REQUIRE(d->Alive());
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

TEST_CASE("TheBodyTimeoutIsSilenceNotDurationAndATrickleBelowTheMinimumRateIsCut") {
  const std::string json_body = R"({"name":"Trickle organisation"})";
  SECTION("bytes every 0.3 s for longer than the timeout, no minimum rate: served") {
    auto d = Daemon::Start(
        {{"limits", {{"body_timeout_seconds", 1}, {"min_body_bytes_per_second", 0}}}});
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send("POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d->operator_token() +
           "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(json_body.size()) + "\r\n\r\n");
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < json_body.size(); i += 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      REQUIRE(c.Send(json_body.substr(i, 3)));
    }
    CHECK(std::chrono::steady_clock::now() - start > std::chrono::seconds(2));
    CHECK(StatusOf(c.ReadAll(3000)) == 201);
    CHECK(d->StopAndWait(SIGTERM) == 0);
  }
  SECTION("the same trickle under a minimum rate: refused with 408 once a window ends") {
    auto d = Daemon::Start(
        {{"limits", {{"body_timeout_seconds", 1}, {"min_body_bytes_per_second", 1000}}}});
    RawTls c(d->port(), d->cacert());
    REQUIRE(c.connected());
    c.Send("POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d->operator_token() +
           "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(json_body.size()) + "\r\n\r\n");
    for (size_t i = 0; i < json_body.size(); i += 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (!c.Send(json_body.substr(i, 3))) break;
    }
    CHECK(StatusOf(c.ReadAll(3000)) == 408);
    REQUIRE(d->Alive());
    CHECK(d->StopAndWait(SIGTERM) == 0);
  }
}

TEST_CASE("OneAddressHoldingItsConnectionLimitDoesNotStopAnotherClient") {
  auto d = Daemon::Start({{"limits", {{"max_connections_per_address", 8}}}});
  std::vector<std::unique_ptr<TcpFrom>> held;
  for (int i = 0; i < 8; ++i) held.push_back(std::make_unique<TcpFrom>("127.0.0.2", d->port()));
  // Accepted, they wait for a handshake; the registry counts them as they start.
  REQUIRE(WaitFor([&] { return Metric(*d, "xgw_connections_open") >= 9; }, 5000));
  TcpFrom over("127.0.0.2", d->port());
  CHECK(over.ClosedByPeer(3000));
  CHECK(Metric(*d, "xgw_connections_rejected_per_address_total") >= 1);
  for (int i = 0; i < 5; ++i) CHECK(Request(*d, "GET", "/healthz").status == 200);
  held.clear();
  REQUIRE(WaitFor([&] { return Metric(*d, "xgw_connections_open") <= 1; }, 5000));
  TcpFrom again("127.0.0.2", d->port());
  CHECK_FALSE(again.ClosedByPeer(500));
  CHECK(d->StopAndWait(SIGTERM) == 0);
}

// Gateway-encrypt uploads hold plaintext in locked memory; it must grow with
// the bytes received, never with the Content-Length a client announces.
TEST_CASE("IdlePlaintextUploadsThatAnnounceTheLimitHoldNoMemoryAndTheBudgetCapsTheRest") {
  SECTION("16 idle uploads announcing 64 MiB each") {
    CirWorld w;
    w.ProposeAcceptActivate();
    const uint64_t before = w.d->ResidentBytes();
    std::vector<std::unique_ptr<RawTls>> idle;
    for (int i = 0; i < 16; ++i) {
      auto c = std::make_unique<RawTls>(w.d->port(), w.d->cacert());
      REQUIRE(c->connected());
      REQUIRE(c->Send("POST /api/v1/exchanges/plaintext?protocol_id=" + w.protocol->id +
                      "&format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + w.sender.token +
                      "\r\nContent-Type: text/csv\r\nContent-Length: 67108864\r\n\r\nNaam;"));
      idle.push_back(std::move(c));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const uint64_t during = w.d->ResidentBytes();
    INFO("xgwd resident before " << before / 1024 << " KiB, with 16 idle uploads " << during / 1024
                                 << " KiB");
    CHECK(during < 256ull * 1024 * 1024);
    idle.clear();
    REQUIRE(w.d->Alive());
  }
  SECTION("beyond exchanges.plaintext_memory_budget_bytes: 503 with Retry-After, then served") {
    CirWorld w(nullptr, {{"exchanges", {{"plaintext_memory_budget_bytes", 1 << 20},
                                        {"max_plaintext_bytes", 1 << 20}}}});
    w.ProposeAcceptActivate();
    // The first upload grows to the whole budget and then waits.
    auto first = std::make_unique<RawTls>(w.d->port(), w.d->cacert());
    REQUIRE(first->connected());
    const std::string head = "POST /api/v1/exchanges/plaintext?protocol_id=" + w.protocol->id +
                             "&format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                             w.sender.token + "\r\nContent-Type: text/csv\r\nContent-Length: ";
    REQUIRE(first->Send(head + "1000000\r\n\r\n" + std::string(600 * 1024, 'x')));
    // Waited for, not slept on: a loaded machine may take longer to read it.
    REQUIRE(WaitFor([&] { return Metric(*w.d, "xgw_plaintext_held_bytes") == (1 << 20); }, 10000));
    RawTls second(w.d->port(), w.d->cacert());
    REQUIRE(second.connected());
    // The whole body, without waiting: the daemon refuses at the first 64 KiB
    // block and reads the rest away before it closes, so the answer arrives.
    REQUIRE(second.Send(head + "200000\r\n\r\n" + std::string(200000, 'y')));
    const std::string out = second.ReadAll(5000);
    CHECK(StatusOf(out) == 503);
    CHECK(out.find("Retry-After:") != std::string::npos);
    // The first one ends (its connection closes); its memory is given back.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first.reset();
    REQUIRE(WaitFor([&] { return Metric(*w.d, "xgw_connections_open") <= 1; }, 5000));
    auto r = w.SendPlaintext(kCirHeader + CirRow(1));
    CHECK(r.status == 201);
  }
}

// Every refusal used to append an fsynced audit event: 20,000 requests
// without a login grew the log by 38 MB. Refusals nobody authenticated are
// now one event per address, reason and minute at once, and one with the
// count of the rest when the minute is over (at the latest at shutdown).
TEST_CASE("RefusalsWithoutALoginAreCoalescedPerAddressAndMinute") {
  auto d = Daemon::Start();
  auto login_failures = [&] {
    return MustJson(Request(*d, "GET", "/api/v1/audit/events?limit=1000&action=auth.login_failed",
                            {.token = d->operator_token()}),
                    200)["items"];
  };
  for (int i = 0; i < 200; ++i) {
    REQUIRE(Request(*d, "GET", "/api/v1/me", {.token = "xgw_not_a_token"}).status == 401);
  }
  const json now = login_failures();
  CHECK(now.size() == 1);
  // The rest of the minute is recorded as one event with its count when the
  // minute ends; here the daemon stops first, which records it too.
  REQUIRE(d->StopAndWait(SIGTERM) == 0);
  d->Restart();
  const json after = login_failures();
  REQUIRE(after.size() == 2);
  CHECK(after[0]["event"].value("count", 1) == 1);
  CHECK(after[1]["event"]["count"] == 199);
  CHECK(after[1]["event"]["client"] == "127.0.0.1");
  CHECK(d->StopAndWait(SIGTERM) == 0);
  CheckAuditVerifies(d->dir() + "/state");
}

TEST_CASE("OverTheRateLimitsRequestsAre429WithRetryAfterAndOtherTokensAreServed") {
  auto d = Daemon::Start({{"limits", {{"requests_per_second_per_token", 5}}}});
  const std::string& op = d->operator_token();
  int limited = 0;
  HttpResult last;
  for (int i = 0; i < 40; ++i) {
    auto r = Request(*d, "GET", "/api/v1/me", {.token = op});
    if (r.status == 429) {
      ++limited;
      last = r;
    } else {
      CHECK(r.status == 200);
    }
  }
  CHECK(limited > 0);
  CHECK(IsProblem(last));
  CHECK(last.Json()["type"] == "urn:xgw:problem:rate-limited");
  // A second token (another system of the same operator) has its own budget.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // op's bucket refills
  const std::string user = MustJson(Request(*d, "GET", "/api/v1/me", {.token = op}), 200)["id"];
  const json issued = MustJson(Request(*d, "POST", "/api/v1/users/" + user + "/tokens",
                                       {.token = op, .body = json{{"label", "second"}}.dump()}),
                               201);
  for (int i = 0; i < 8; ++i) CHECK(Request(*d, "GET", "/api/v1/me", {.token = op}).status != 0);
  CHECK(Request(*d, "GET", "/api/v1/me", {.token = issued["token"]}).status == 200);
  REQUIRE(d->Alive());
  CHECK(d->StopAndWait(SIGTERM) == 0);

  auto by_address = Daemon::Start({{"limits", {{"requests_per_second_per_address", 5}}}});
  int address_limited = 0;
  for (int i = 0; i < 40; ++i) address_limited += Request(*by_address, "GET", "/healthz").status == 429;
  CHECK(address_limited > 0);
  CHECK(by_address->StopAndWait(SIGTERM) == 0);
}

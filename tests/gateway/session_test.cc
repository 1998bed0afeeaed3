// The network layer's guard, with the real Listener and Session over real TLS
// on loopback: an exception escaping any step of one request (opening a
// streamed body, writing to it, finishing it, or anything on the event loop)
// is answered 500 or closes that connection, is counted, and the daemon
// serves the next request.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "gateway/audit_sink.h"
#include "gateway/http/listener.h"
#include "gateway/http/problem.h"
#include "gateway/http/router.h"
#include "gateway/http/session.h"
#include "gateway/http/tls.h"
#include "tests/e2e/harness.h"
#include "tests/gateway/temp_dir.h"

using namespace xgw;
namespace asio = boost::asio;

namespace {

// A streamed body whose Write or Finish throws, as a bug would.
class ThrowingSink final : public RequestBodySink {
 public:
  explicit ThrowingSink(bool in_write) : in_write_(in_write) {}
  Result<void> Write(std::span<const uint8_t>) override {
    if (in_write_) throw std::runtime_error("a bug in Write quoting 85.07.30-033.61");
    return {};
  }
  Response Finish() override {
    throw std::runtime_error("a bug in Finish quoting 85.07.30-033.61");
  }

 private:
  bool in_write_;
};

Config TestConfig(const std::string& dir) {
  Config c;
  c.state_dir = dir;
  c.tls.cert_file = dir + "/server.crt";
  c.tls.key_file = dir + "/server.key";
  return c;
}

// Listener, sessions and router on 127.0.0.1:0, the event loop on two threads
// running RunContained, as xgwd runs it.
struct Server {
  explicit Server(const std::string& dir)
      : config(TestConfig(dir)),
        store(std::move(*IdentityStore::Open(dir + "/xgwd.db"))),
        router(config, *store, metrics, audit),
        tls(*MakeServerTlsContext(config.Get()->tls)),
        env{router, config, metrics, blocking, connections, tls} {
    AddThrowingRoutes();
    listener = std::make_shared<Listener>(ioc, env);
    REQUIRE(listener->Open({asio::ip::make_address("127.0.0.1"), 0}));
    listener->Start();
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { RunContained(ioc, metrics); });
  }
  ~Server() {
    ioc.stop();
    for (auto& t : threads) t.join();
    blocking.join();
  }

  void AddThrowingRoutes() {
    auto stream_route = [&](const char* path, StreamOpener open) {
      router.Add({.method = "POST", .pattern = path, .public_route = true,
                  .body = BodyKind::kStream, .open_stream = std::move(open)});
    };
    stream_route("/throw/open", [](RequestContext&) -> Result<std::unique_ptr<RequestBodySink>> {
      throw std::runtime_error("a bug while opening");
    });
    stream_route("/throw/write", [](RequestContext&) -> Result<std::unique_ptr<RequestBodySink>> {
      return std::unique_ptr<RequestBodySink>(std::make_unique<ThrowingSink>(true));
    });
    stream_route("/throw/finish", [](RequestContext&) -> Result<std::unique_ptr<RequestBodySink>> {
      return std::unique_ptr<RequestBodySink>(std::make_unique<ThrowingSink>(false));
    });
    router.Add({.method = "GET", .pattern = "/ok", .public_route = true,
                .handler = [](RequestContext&, const nlohmann::json&) { return Response{}; }});
  }

  int port() const { return listener->local_endpoint().port(); }

  ConfigHolder config;
  std::unique_ptr<IdentityStore> store;
  Metrics metrics;
  MemoryAuditSink audit;
  Router router;
  TlsHolder tls;
  asio::thread_pool blocking{2};
  ConnectionRegistry connections;
  ServerEnv env;
  // Destroyed before what the sessions it still holds refer to.
  asio::io_context ioc{2};
  std::shared_ptr<Listener> listener;
  std::vector<std::thread> threads;
};

std::string Exchange(const Server& s, const std::string& cacert, const std::string& request) {
  e2e::RawTls c(s.port(), cacert);
  REQUIRE(c.connected());
  c.Send(request);
  return c.ReadAll(3000);
}

std::string Post(const std::string& path) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 4\r\n\r\nabcd";
}

}  // namespace

TEST_CASE("AnExceptionEscapingAStepOfOneRequestIsAnswered500AndTheServerGoesOn") {
  test::TempDir dir;
  e2e::MakeClientCertificate(dir.path, "server");
  Server s(dir.path);
  const std::string cacert = dir.path + "/server.crt";

  for (const char* path : {"/throw/open", "/throw/write", "/throw/finish"}) {
    const uint64_t before = s.metrics.exceptions_contained();
    const std::string out = Exchange(s, cacert, Post(path));
    INFO(path);
    CHECK(out.rfind("HTTP/1.1 500", 0) == 0);
    CHECK(out.find("application/problem+json") != std::string::npos);
    CHECK(out.find("Connection: close") != std::string::npos);
    // The exception's text may quote request bytes: it is never sent.
    CHECK(out.find("85.07.30") == std::string::npos);
    CHECK(s.metrics.exceptions_contained() == before + 1);
    CHECK(Exchange(s, cacert, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
  }
}

TEST_CASE("AnExceptionThrownOnTheEventLoopOutsideAnyGuardIsCountedAndTheLoopRunsOn") {
  test::TempDir dir;
  e2e::MakeClientCertificate(dir.path, "server");
  Server s(dir.path);
  const std::string cacert = dir.path + "/server.crt";
  for (int i = 0; i < 3; ++i) {
    asio::post(s.ioc, [] { throw std::logic_error("thrown inside the I/O layer"); });
  }
  for (int i = 0; i < 100 && s.metrics.exceptions_contained() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(s.metrics.exceptions_contained() == 3);
  CHECK(Exchange(s, cacert, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
  CHECK(s.metrics.RenderPrometheus().find("xgw_exceptions_contained_total 3") != std::string::npos);
}

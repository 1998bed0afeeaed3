#include "gateway/server.h"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "config/config.h"
#include "crypto/io.h"
#include "crypto/secret.h"
#include "audit/audit_log.h"
#include "gateway/audit_sink.h"
#include "gateway/clock.h"
#include "gateway/durable_audit.h"
#include "gateway/exchange_service.h"
#include "gateway/sqlite_identity_store.h"
#include "gateway/http/listener.h"
#include "gateway/api_accounts.h"
#include "gateway/api_sso.h"
#include "gateway/api_audit.h"
#include "gateway/api_identities.h"
#include "gateway/http/session.h"
#include "gateway/signing_key.h"
#include "gateway/subject_keys.h"
#include "gateway/http/tls.h"
#include "gateway/web_app.h"

namespace xgw {

namespace asio = boost::asio;

namespace {

int Die(const Error& e) {
  std::fprintf(stderr, "xgwd: %s\n", ToString(e).c_str());
  return 1;
}

// Like XGW_TRY but returns an exit code.
#define XGW_TRY_OR_DIE(decl, expr)                                              \
  auto XGW_CONCAT(r_, __LINE__) = (expr);                                       \
  if (!XGW_CONCAT(r_, __LINE__)) return Die(XGW_CONCAT(r_, __LINE__).error()); \
  decl = std::move(*XGW_CONCAT(r_, __LINE__))

class Daemon {
 public:
  Daemon(const ServeOptions& options, Config config, std::unique_ptr<SqliteIdentityStore> store,
         std::shared_ptr<asio::ssl::context> tls, std::unique_ptr<Clock> clock,
         std::unique_ptr<AuditLog> audit_log)
      : options_(options),
        config_(std::move(config)),
        store_(std::move(store)),
        clock_(std::move(clock)),
        audit_log_(std::move(audit_log)),
        audit_(*audit_log_, *clock_, metrics_),
        router_(config_, *store_, metrics_, audit_),
        tls_(std::move(tls)),
        ioc_(static_cast<int>(config_.Get()->threads)),
        blocking_(config_.Get()->blocking_threads),
        env_{router_, config_, metrics_, blocking_, connections_, tls_},
        signals_(ioc_, SIGTERM, SIGINT, SIGHUP),
        watchdog_(ioc_),
        drain_(ioc_),
        refusal_flush_(ioc_) {
    router_.SetClock(clock_.get());
    metrics_.SetTlsCertificateExpiry(CertificateNotAfter(*tls_.Get()));
    RegisterOperatorRoutes(router_, [this] { return audit_log_->Writable(); },
                           [this](const std::string& org_id) -> Result<std::set<std::string>> {
                             // Opened after these routes; none before serving starts.
                             if (!exchanges_) return std::set<std::string>();
                             return exchanges_->RolesNamedFor(org_id);
                           });
    if (options.register_routes) options.register_routes(router_);
  }

  // People's accounts and sessions (the key of TOTP secrets at rest); before Run.
  Result<void> OpenAccounts() {
    XGW_CHECK(RegisterAccountRoutes(router_, config_.Get()->AccountsKeyPath()));
    return RegisterSsoRoutes(router_, config_.Get()->sso);  // single sign-on opens sessions the same way
  }

  // The web app's pages, when they are installed; before Run. Read once:
  // a new web_root takes a restart, like the release it belongs to.
  Result<void> OpenWebApp() {
    const std::string& configured = config_.Get()->server.web_root;
    const std::string root = configured.empty() ? DefaultWebRoot() : configured;
    auto app = LoadWebApp(root);
    if (!app && app.error().code != ErrorCode::kNotFound) return tl::unexpected(app.error());
    if (!app && !configured.empty()) return tl::unexpected(app.error());  // asked for, not there
    std::fprintf(stderr, app ? "xgwd: web app from %s (%zu files)\n" : "xgwd: no web app in %s: API only\n",
                 root.c_str(), app ? app->assets.size() + 1 : size_t{0});
    RegisterWebRoutes(router_, app ? std::make_shared<const WebApp>(std::move(*app)) : nullptr);
    return {};
  }

  // Opens the exchange service and registers its routes; before Run.
  Result<void> OpenExchanges(std::shared_ptr<const Ed25519SecretKey> key) {
    XGW_TRY(exchanges_, ExchangeService::Open(ExchangeService::Deps{
                            config_.Get(), *store_, audit_, *clock_, metrics_, std::move(key), store_->readers()}));
    exchanges_->RegisterRoutes(router_);
    RegisterAuditRoutes(router_, audit_queries_);
    return {};
  }

  ~Daemon() {
    if (exchanges_) exchanges_->StopSweeper();
  }

  int Run() {
    auto cfg = config_.Get();
    XGW_TRY_OR_DIE(auto addr, ParseListenAddress(cfg->listen));
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(addr.host, ec);
    if (ec) return Die(Error{ErrorCode::kFormat, "listen address is not an IP literal"});
    listener_ = std::make_shared<Listener>(ioc_, env_);
    if (auto r = listener_->Open({ip, addr.port}); !r) return Die(r.error());
    const auto bound = listener_->local_endpoint();
    const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                     : bound.address().to_string();
    if (exchanges_) exchanges_->StartSweeper();
    {
      AuditEvent ev;
      ev.actor = {ActorType::kSystem, "xgwd", ""};
      ev.action = AuditAction::kDaemonStarted;
      if (!audit_.AppendEvent(ev)) {
        return Die(Error{ErrorCode::kIo, "cannot append to the audit log; refusing to serve"});
      }
    }
    listener_->Start();
    WaitForSignal();
    StartWatchdog();
    FlushRefusalsPeriodically();
    std::printf("xgwd: listening on https://%s:%u\n", host.c_str(), bound.port());
    std::fflush(stdout);
    // The port file last: whoever sees it may rely on everything above (the
    // listening line included; a test read the log before it was written).
    if (!options_.port_file.empty()) {
      auto f = AtomicFile::Create(options_.port_file, 0644);
      if (!f) return Die(f.error());
      const std::string text = std::to_string(bound.port()) + "\n";
      if (auto w = f->Write(AsBytes(text)); !w) return Die(w.error());
      if (auto c = f->Commit(); !c) return Die(c.error());
    }
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s:%u", host.c_str(), bound.port());

    std::vector<std::thread> threads;
    for (uint32_t i = 1; i < cfg->threads; ++i) threads.emplace_back([this] { RunContained(ioc_, metrics_); });
    RunContained(ioc_, metrics_);
    for (auto& t : threads) t.join();
    blocking_.join();
    if (exchanges_) exchanges_->StopSweeper();
    router_.FlushRefusals(/*all=*/true);
    {
      AuditEvent ev;
      ev.actor = {ActorType::kSystem, "xgwd", ""};
      ev.action = AuditAction::kDaemonStopped;
      ev.reason = "signal";
      (void)audit_.AppendEvent(ev);
    }
    std::fprintf(stderr, "xgwd: stopped\n");
    return 0;
  }

 private:
  void WaitForSignal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        Reload();
        return WaitForSignal();
      }
      BeginShutdown();
    });
  }

  void Reload() {
    sd_notify(0, "RELOADING=1");
    auto keep_running = [](const Error& error) {
      std::fprintf(stderr, "xgwd: reload failed, keeping the running configuration: %s\n",
                   ToString(error).c_str());
      sd_notify(0, "READY=1");
    };
    auto fresh = LoadConfigFile(options_.config_path);
    if (!fresh) {
      AuditReload(AuditOutcome::kFailed);
      return keep_running(fresh.error());
    }
    auto running = config_.Get();
    const std::string fixed = KeysNeedingRestart(*running, *fresh);
    if (!fixed.empty()) {
      std::fprintf(stderr, "xgwd: reload: %s changed but need a restart; keeping running values\n",
                   fixed.c_str());
      fresh->state_dir = running->state_dir;
      fresh->listen = running->listen;
      fresh->threads = running->threads;
      fresh->blocking_threads = running->blocking_threads;
    }
    if (auto keys = CheckSubjectKeysDir(fresh->exchanges.subject_keys_dir); !keys) {
      AuditReload(AuditOutcome::kFailed);
      return keep_running(keys.error());
    }
    auto tls = MakeServerTlsContext(fresh->tls);
    if (!tls) {
      AuditReload(AuditOutcome::kFailed);
      return keep_running(tls.error());
    }
    metrics_.SetTlsCertificateExpiry(CertificateNotAfter(**tls));
    tls_.Set(*tls);
    config_.Set(std::move(*fresh));
    AuditReload(AuditOutcome::kSuccess);
    std::fprintf(stderr, "xgwd: configuration reloaded\n");
    sd_notify(0, "READY=1");
  }

  // config.reloaded, by the daemon itself (SIGHUP). A reload that keeps the
  // running configuration is recorded as failed, reason config_invalid.
  void AuditReload(AuditOutcome outcome) {
    AuditEvent ev;
    ev.actor = {ActorType::kSystem, "xgwd", ""};
    ev.action = AuditAction::kConfigReloaded;
    ev.outcome = outcome;
    if (outcome != AuditOutcome::kSuccess) ev.reason = "config_invalid";
    (void)audit_.AppendEvent(ev);  // a failure is reported by the sink
  }

  void StartWatchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
    KeepAlive();
  }

  void KeepAlive() {
    sd_notify(0, "WATCHDOG=1");
    watchdog_.expires_after(watchdog_interval_);
    watchdog_.async_wait([this](boost::system::error_code ec) {
      if (!ec) KeepAlive();
    });
  }

  // Coalesced refusals (Router::FlushRefusals) are recorded once their minute
  // is over; the audit append runs on the blocking pool.
  void FlushRefusalsPeriodically() {
    refusal_flush_.expires_after(std::chrono::seconds(10));
    refusal_flush_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      asio::post(blocking_, [this] { router_.FlushRefusals(/*all=*/false); });
      FlushRefusalsPeriodically();
    });
  }

  void BeginShutdown() {
    if (env_.stopping.exchange(true)) return;
    sd_notify(0, "STOPPING=1");
    std::fprintf(stderr, "xgwd: shutting down; %zu connection(s) open\n", connections_.Count());
    listener_->Stop();
    connections_.ForEach([](const std::shared_ptr<Session>& s) { s->StopWhenIdle(); });
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::seconds(config_.Get()->shutdown_grace_seconds);
    Drain();
  }

  void Drain() {
    if (connections_.Count() == 0 || std::chrono::steady_clock::now() >= deadline_) {
      if (connections_.Count() > 0) {
        std::fprintf(stderr, "xgwd: %zu connection(s) did not finish within the grace period\n",
                     connections_.Count());
      }
      boost::system::error_code ignored;
      signals_.cancel(ignored);
      watchdog_.cancel();
      refusal_flush_.cancel();
      blocking_.stop();
      ioc_.stop();
      return;
    }
    // Sessions that became idle after the first pass are told again.
    connections_.ForEach([](const std::shared_ptr<Session>& s) { s->StopWhenIdle(); });
    drain_.expires_after(std::chrono::milliseconds(50));
    drain_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Drain();
    });
  }

  const ServeOptions& options_;
  ConfigHolder config_;
  std::unique_ptr<SqliteIdentityStore> store_;  // the embedded identity store, whose read pool the others share
  Metrics metrics_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<AuditLog> audit_log_;
  DurableAuditSink audit_;
  AuditQueries audit_queries_{audit_};
  Router router_;
  std::unique_ptr<ExchangeService> exchanges_;
  ConnectionRegistry connections_;
  TlsHolder tls_;
  asio::io_context ioc_;
  asio::thread_pool blocking_;
  ServerEnv env_;
  asio::signal_set signals_;
  asio::steady_timer watchdog_;
  asio::steady_timer drain_;
  asio::steady_timer refusal_flush_;
  std::chrono::microseconds watchdog_interval_{0};
  std::chrono::steady_clock::time_point deadline_;
  std::shared_ptr<Listener> listener_;
};

}  // namespace

int Serve(const ServeOptions& options) {
  InitCrypto();
  auto config = LoadConfigFile(options.config_path);
  if (!config) return Die(config.error());
  // One read pool: a connection for each blocking thread besides the
  // per-request lookups' own.
  auto store = SqliteIdentityStore::Open(config->DatabasePath(), config->blocking_threads);
  if (!store) return Die(store.error());
  // The signing key must be present and well-formed before we accept traffic.
  auto key = LoadGatewaySigningKey(config->SigningKeyPath());
  if (!key) return Die(key.error());
  auto shared_key = std::make_shared<const Ed25519SecretKey>(std::move(*key));
  if (auto keys = CheckSubjectKeysDir(config->exchanges.subject_keys_dir); !keys) {
    return Die(keys.error());
  }
  auto tls = MakeServerTlsContext(config->tls);
  if (!tls) return Die(tls.error());
  AuditLogOptions audit_options;
  audit_options.origin = config->audit.origin;
  audit_options.signing_key = shared_key;
  audit_options.checkpoint_interval = std::chrono::seconds(config->audit.checkpoint_interval_seconds);
  auto audit_log = AuditLog::Open(config->AuditDbPath(), audit_options);
  if (!audit_log) return Die(audit_log.error());
  auto clock = OpenClock(config->clock, config->state_dir);
  if (!clock) return Die(clock.error());
  // Daemon is large (io buffers, pools): keep it off the stack.
  auto daemon = std::make_unique<Daemon>(options, std::move(*config), std::move(*store),
                                         std::move(*tls), std::move(*clock), std::move(*audit_log));
  if (auto r = daemon->OpenAccounts(); !r) return Die(r.error());
  if (auto r = daemon->OpenWebApp(); !r) return Die(r.error());
  if (auto r = daemon->OpenExchanges(shared_key); !r) return Die(r.error());
  return daemon->Run();
}

}  // namespace xgw

// The running daemon: loads state, listens, serves until SIGTERM/SIGINT,
// reloads on SIGHUP, and talks to systemd (READY/STOPPING/RELOADING/WATCHDOG).
//
// Threads: `threads` network threads run one io_context (each connection on
// its own strand); `blocking_threads` run SQLite and other blocking work, so
// a slow statement delays only the requests waiting for it, never the event
// loop (and never the watchdog keep-alive, which runs on the io_context).
//
// Shutdown (SIGTERM): STOPPING=1, stop accepting, close idle connections,
// let busy ones finish their current request (then close), wait up to
// shutdown_grace_seconds, stop. State on disk is only changed in SQLite
// transactions and atomic file renames, so a request cut off at the deadline
// leaves nothing half-written.
#ifndef XGW_GATEWAY_SERVER_H_
#define XGW_GATEWAY_SERVER_H_

#include <functional>
#include <string>

namespace xgw {

class Router;

struct ServeOptions {
  std::string config_path;
  std::string port_file;  // if set, the bound port is written here once listening
  // Extra routes (exchanges, protocols ...) are registered through this hook
  // after the operator routes; see Router::Add.
  std::function<void(Router&)> register_routes;
};

// Returns the process exit code (0 after a clean shutdown).
int Serve(const ServeOptions& options);

}  // namespace xgw

#endif  // XGW_GATEWAY_SERVER_H_

// What the tests of build/bin/xgw against the real xgwd share: running xgw
// as a named user (each with its own --config file in one client
// directory), and the "CLI world": a daemon on a manual clock from
// 2024-09-20, Thuispunt Gent (sender) and OCMW Gent (the recipient) under the
// CIR protocol made periodic, each user logged in with the server's pin and
// the sender and worker with keys registered.
//
//   operator: the daemon's operator token
//   thuispunt: sender (role sender, keys), plus CliWorldOptions::thuispunt_users
//   ocmw: worker (social-worker-welzijnsbureau, keys: the recipient)
//
// Every person in the lists the tests send is invented.
#ifndef XGW_TESTS_CLIENT_CLI_WORLD_H_
#define XGW_TESTS_CLIENT_CLI_WORLD_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.h"

namespace xgw::e2e {

// The CIR protocol's id in config/examples.
inline const std::string kCliProtocolId = "2024_VB_00591";

// Writes `text` to `path` (REQUIREs success).
void WriteFile(const std::string& path, const std::string& text);

// `s` without trailing line ends.
std::string Trimmed(std::string s);

// "sha256//<base64>": the pin of `daemon`'s server key (SHA-256 of its
// SPKI), as an operator publishes it for `xgw login --pin`.
std::string ServerPin(const Daemon& daemon);

// Runs build/bin/xgw (or `xgw`) in `dir` as a user: XGW_CONFIG=dir/USER.json,
// the passphrase from dir/pass, no stdin.
struct XgwCli {
  std::string dir;
  std::string xgw = XgwPath();

  // Runs `xgw ARGS` as `user`; returns stdout, *rc the exit code, *err stderr.
  std::string Run(const std::string& user, const std::string& args, int* rc, std::string* err = nullptr);
  // Runs it and REQUIREs exit 0.
  void Ok(const std::string& user, const std::string& args);
  // Runs it with --json, REQUIREs exit 0 and JSON on stdout.
  nlohmann::json RunJson(const std::string& user, const std::string& args);
};

struct CliWorldOptions {
  nlohmann::json daemon_config = nlohmann::json::object();  // Daemon::Start's overrides
  nlohmann::json protocol_fields = nlohmann::json::object();  // top-level fields set in protocol.json
  std::map<std::string, std::string> files;                   // name → text, written to the client dir first
  std::vector<std::pair<std::string, std::string>> thuispunt_users;  // more users (name, role)
  std::string login_options;  // appended to each user's `xgw login` (not the operator's)
  std::string ocmw_time_zone;  // OCMW Gent's time zone (`org create --time-zone`); "" = the default
  std::string xgw = XgwPath();
};

// The world above; REQUIREs every step of its setting up.
class CliWorld : public XgwCli {
 public:
  explicit CliWorld(CliWorldOptions options = {});

  // Creates user `name` with `role` in organisation `org`, issues a token
  // (tokens[name]) and logs the user in.
  void MakeUser(const std::string& name, const std::string& org, const std::string& role);

  std::unique_ptr<Daemon> d;
  std::string pin, thuispunt, ocmw;
  nlohmann::json protocol_doc;  // as written to dir/protocol.json
  std::map<std::string, std::string> tokens;

 private:
  std::string login_options_;
};

}  // namespace xgw::e2e

#endif  // XGW_TESTS_CLIENT_CLI_WORLD_H_

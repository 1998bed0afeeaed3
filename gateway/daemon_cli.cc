#include "gateway/daemon_cli.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "crypto/secret.h"
#include "crypto/signed_note.h"
#include "audit/verify.h"
#include "gateway/api_sso.h"
#include "gateway/database.h"
#include "gateway/server.h"
#include "gateway/signing_key.h"
#include "gateway/state_init.h"
#include "gateway/subject_keys.h"
#include "gateway/http/tls.h"

namespace xgw {
namespace {

constexpr const char* kUsage =
    "usage: xgwd init --state DIR [--config FILE] [--listen ADDR] [--operator-pin PIN]...\n"
    "       xgwd audit-verify --state DIR [--checkpoint FILE]...\n"
    "       xgwd serve -c FILE [--port-file PATH]\n"
    "       xgwd --check-config -c FILE   (-t)\n"
    "       xgwd --dump-config -c FILE    (-T)\n"
    "       xgwd --version\n";

int Usage(const char* problem) {
  if (problem) std::fprintf(stderr, "xgwd: %s\n", problem);
  std::fputs(kUsage, stderr);
  return 2;
}

int Fail1(const Error& e) {
  std::fprintf(stderr, "xgwd: %s\n", ToString(e).c_str());
  return 1;
}

int RunInit(const std::vector<std::string>& args) {
  InitOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--state" && has_value) {
      o.state_dir = args[++i];
    } else if (a == "--config" && has_value) {
      o.config_path = args[++i];
    } else if (a == "--listen" && has_value) {
      o.listen = args[++i];
    } else if (a == "--operator-pin" && has_value) {
      o.operator_pins.push_back(args[++i]);
    } else {
      return Usage("init: unknown or incomplete argument");
    }
  }
  if (o.state_dir.empty()) return Usage("init: --state DIR is required");
  const mode_t old = ::umask(077);
  auto r = InitStateDirectory(o);
  ::umask(old);
  if (!r) return Fail1(r.error());
  std::printf("xgwd: initialised state directory %s\n", o.state_dir.c_str());
  std::printf("config: %s\n", r->config_path.c_str());
  // Both spellings of the one pin, side by side: `xgw login --pin`, curl and
  // the docs use the base64 form, the API's pin ids the hex form. The value
  // after "certificate-pin: " is the whole line, for scripts.
  std::printf("certificate-pin: %s\n", r->certificate_pin_base64.c_str());
  std::printf("  (the same key as %s: the SHA-256 of the certificate's public key, in base64 and "
              "in hex; `xgw login --pin` takes either)\n",
              r->certificate_pin.c_str());
  std::printf("gateway-signing-key: %s\n", r->signing_public_key.c_str());
  std::printf("operator-org: %s\n", r->operator_org_id.c_str());
  std::printf("operator-user: %s\n", r->operator_user_id.c_str());
  std::printf("operator-token: %s\n", r->operator_token.c_str());
  std::printf("(the operator token is shown only now; store it safely)\n");
  WipeMemory(r->operator_token.data(), r->operator_token.size());
  return 0;
}

// Verifies <state>/audit.db offline: every leaf and node hash, every stored
// checkpoint (signed by the gateway key under the log's origin), and each
// trusted checkpoint note given with --checkpoint.
int RunAuditVerify(const std::vector<std::string>& args) {
  std::string state;
  std::vector<std::string> notes;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--state" && has_value) {
      state = args[++i];
    } else if (args[i] == "--checkpoint" && has_value) {
      std::ifstream in(args[++i], std::ios::binary);
      if (!in) return Fail1(Error{ErrorCode::kIo, "cannot read checkpoint file " + args[i]});
      std::ostringstream ss;
      ss << in.rdbuf();
      notes.push_back(ss.str());
    } else {
      return Usage("audit-verify: unknown or incomplete argument");
    }
  }
  if (state.empty()) return Usage("audit-verify: --state DIR is required");
  Config paths;
  paths.state_dir = state;
  const std::string db_path = paths.AuditDbPath();
  struct stat st{};
  if (::stat(db_path.c_str(), &st) != 0) {
    return Fail1(Error{ErrorCode::kIo, "no audit log at " + db_path});
  }
  std::string origin;
  {
    auto db = Database::Open(db_path);
    if (!db) return Fail1(db.error());
    auto q = db->Prepare("SELECT value FROM meta WHERE key = 'origin'");
    if (!q) return Fail1(q.error());
    auto row = q->Step();
    if (!row || !*row) return Fail1(Error{ErrorCode::kCorrupt, "the audit log has no origin"});
    origin = q->Text(0);
  }
  auto key = LoadGatewaySigningKey(paths.SigningKeyPath());
  if (!key) return Fail1(key.error());
  const std::string verifier = FormatVerifierKey(origin, key->public_key());
  auto report = VerifyLog(db_path, notes, verifier);
  if (!report) {
    std::printf("audit log: %s\nresult: FAILED\n%s\n", db_path.c_str(), ToString(report.error()).c_str());
    return 1;
  }
  std::printf("audit log: %s\nverifier key: %s\nevents: %llu\nstored checkpoints verified: %llu\n"
              "trusted checkpoints verified: %llu\nresult: OK\n",
              db_path.c_str(), verifier.c_str(), static_cast<unsigned long long>(report->events),
              static_cast<unsigned long long>(report->stored_checkpoints),
              static_cast<unsigned long long>(report->trusted_checkpoints));
  return 0;
}

}  // namespace

int XgwdMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "init") return RunInit({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "audit-verify") return RunAuditVerify({args.begin() + 1, args.end()});

  enum class Mode { kServe, kCheck, kDump } mode = Mode::kServe;
  ServeOptions serve;
  size_t i = 0;
  if (!args.empty() && args[0] == "serve") i = 1;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if ((a == "-c" || a == "--config") && has_value) {
      serve.config_path = args[++i];
    } else if (a == "--port-file" && has_value) {
      serve.port_file = args[++i];
    } else if (a == "-t" || a == "--check-config") {
      mode = Mode::kCheck;
    } else if (a == "-T" || a == "--dump-config") {
      mode = Mode::kDump;
    } else if (a == "--version") {
      std::printf("xgwd 0.1.0\n");
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage("unknown or incomplete argument");
    }
  }
  if (serve.config_path.empty()) return Usage("-c FILE is required");

  if (mode == Mode::kServe) return Serve(serve);
  auto config = LoadConfigFile(serve.config_path);
  if (!config) return Fail1(config.error());
  if (mode == Mode::kDump) {
    std::printf("%s\n", DumpConfig(*config).dump(2).c_str());
    return 0;
  }
  // --check-config also loads what the daemon would load at start.
  struct stat st{};
  if (::stat(config->state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail1(Error{ErrorCode::kIo, "state directory " + config->state_dir +
                                           " does not exist; run xgwd init --state DIR"});
  }
  if (auto keys = CheckSubjectKeysDir(config->exchanges.subject_keys_dir); !keys) {
    return Fail1(keys.error());
  }
  if (auto sso = CheckSsoFiles(config->sso); !sso) return Fail1(sso.error());
  if (auto tls = MakeServerTlsContext(config->tls); !tls) return Fail1(tls.error());
  std::printf("xgwd: configuration %s is valid\n", serve.config_path.c_str());
  return 0;
}

}  // namespace xgw

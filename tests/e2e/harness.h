// End-to-end test harness: starts the real build/bin/xgwd in a fresh state
// directory on 127.0.0.1 with port 0, waits until it is listening, and
// offers request helpers over real TLS (libcurl, and a raw TLS socket for
// malformed traffic). Exchange tests build on this.
//
// Every Daemon lives in its own temporary directory, removed on destruction;
// a daemon still running then is stopped with SIGTERM (SIGKILL after 20 s),
// and anything but exit status 0 fails the running test (a crash or a
// sanitizer report at shutdown), as does a daemon that died on its own and
// was not restarted.
#ifndef XGW_TESTS_E2E_HARNESS_H_
#define XGW_TESTS_E2E_HARNESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

namespace xgw::e2e {

std::string XgwdPath();
// The xgw client built next to it.
std::string XgwPath();

// Runs a shell command, returns its stdout; *status gets the exit status.
std::string RunCommand(const std::string& command, int* status = nullptr);

class Daemon;

// The events of `daemon`'s audit log as text, one per line (read with the
// sqlite3 tool; REQUIREs that it ran and that the log has sign-in events).
std::string AuditText(const Daemon& daemon);

// RFC 4648 base32 (upper case, no padding) decoded: an authenticator app's
// view of a TOTP secret.
std::vector<uint8_t> Base32Decode(const std::string& s);

// A self-signed P-256 client certificate `dir`/`name`.crt (+ .key) made with
// the openssl CLI; returns its SPKI pin as the API spells it ("sha256:<64 hex>").
std::string MakeClientCertificate(const std::string& dir, const std::string& name);

class Daemon {
 public:
  // Inits a state directory, merges `config_overrides` into the generated
  // config (listen is forced to 127.0.0.1:0), starts xgwd and waits for its
  // port file. Fails the test (Catch2 FAIL) if it does not come up.
  // `init_args` are passed to `xgwd init` as well (e.g. --operator-pin PIN;
  // no shell quoting is done, so keep them to plain words).
  static std::unique_ptr<Daemon> Start(const nlohmann::json& config_overrides = {},
                                       const std::vector<std::string>& init_args = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The daemon's resident memory now (VmRSS), in bytes; 0 if not running.
  uint64_t ResidentBytes() const;
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& cacert() const { return cacert_; }
  const std::string& operator_token() const { return operator_token_; }
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }

  void Signal(int sig) const;
  bool Alive() const;
  // Sends `sig` and waits up to timeout_ms for exit. Returns the exit code,
  // 128+signal if killed by a signal, or -1 on timeout (then SIGKILLs).
  int StopAndWait(int sig, int timeout_ms = 20000);
  // Waits up to timeout_ms for a daemon that exits on its own (no signal
  // sent) and returns its exit code as StopAndWait does, or -1 if it is
  // still running then (it is left running). The exit counts as reported.
  int WaitForExit(int timeout_ms);
  // Rewrites the config file with `overrides` merged in (for SIGHUP tests).
  void RewriteConfig(const nlohmann::json& overrides);
  // The daemon's stdout+stderr so far.
  std::string Log() const;
  // Starts xgwd again on the same state directory and config (after it was
  // stopped or killed and reaped, e.g. by StopAndWait(SIGKILL)).
  void Restart();

 private:
  Daemon() = default;
  void Launch();
  std::string dir_;
  std::string config_path_;
  std::string cacert_;
  std::string operator_token_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int unreported_exit_ = 0;  // exit code of a daemon reaped by Alive()
};

struct HttpResult {
  long status = 0;       // 0 if the transfer failed (see curl_error)
  int curl_code = 0;     // CURLcode
  std::string curl_error;
  std::string body;
  std::string content_type;
  std::string headers;  // the response's header lines as received ("Name: value\r\n" each)
  nlohmann::json Json() const;  // discarded value if the body is not JSON
  // The value of the first response header `name` (case-insensitive), "" if absent.
  std::string Header(const std::string& name) const;
};

// A directory of fault files (audit/fault_points.h), named in
// XGW_FAULT_DIR for the daemons started in its lifetime: a fault point of
// those daemons fails while Fail(point) is in force, until Heal(point).
class FaultDir {
 public:
  FaultDir();
  ~FaultDir();
  FaultDir(const FaultDir&) = delete;
  FaultDir& operator=(const FaultDir&) = delete;
  void Fail(const std::string& point);
  void Heal(const std::string& point);

 private:
  std::string path_;
};

// Everything a refused or failed call must leave untouched, as text: every
// table of the daemon's xgwd.db (sqlite3 .dump, read-only; a token's
// last_used_at, which any authenticated request may move, left out) and
// every file under blobs/ (tmp/ included) with its size and SHA-256.
std::string StoreFingerprint(const Daemon& daemon);
// Ciphertexts packed into segment files (exchanges.packed_blob_max_bytes),
// read from the files: "<id> <bytes> <sha256 hex>" each, sorted.
std::vector<std::string> PackedBlobs(const std::string& state_dir);
// Files under blobs/ (tmp/ included) that are not segments, plus packed
// ciphertexts: with packing off, the number of files under blobs/.
size_t StoredBlobCount(const std::string& state_dir);
// The ciphertext of exchange `id` is stored (its file, or a packed record).
bool BlobStored(const std::string& state_dir, const std::string& id);
// Ids of every stored ciphertext (blobs/<id>.age files and packed records).
std::set<std::string> StoredBlobIds(const std::string& state_dir);
// The audit log itself (audit.db, read-only): every event, tree node,
// stored checkpoint and meta value; not its lookup index (event_keys), which
// a background indexer derives from the events later.
std::string AuditFingerprint(const Daemon& daemon);
// "" if `before` and `after` are equal; otherwise the lines only in one of
// them, as "- line" (gone) and "+ line" (new), for a readable failure.
std::string LineDiff(const std::string& before, const std::string& after);
// The audit log's events in order, one per line: "idx|action|outcome|leaf hash".
std::vector<std::string> AuditEventLines(const Daemon& daemon);

// Runs `xgwd audit-verify` on a state directory (its daemon stopped or
// killed) and checks that the audit log verifies; shows the tool's output
// when it does not.
void CheckAuditVerifies(const std::string& state_dir);

// The response's JSON body; fails the test unless the status is `status`.
nlohmann::json MustJson(const HttpResult& r, long status);

// The answer is an RFC 9457 problem document as xgwd writes them.
bool IsProblem(const HttpResult& r);
// The value of an unlabelled counter or gauge in Prometheus text, -1 if absent.
long MetricValue(const std::string& text, const std::string& name);
// Polls `done` every 50 ms until it is true or `timeout_ms` has passed.
bool WaitFor(const std::function<bool()>& done, int timeout_ms);
// A list answer ({"items": [...]}) holds an item with this id.
bool ContainsId(const nlohmann::json& list, const std::string& id);

struct RequestOptions {
  std::string token{};                            // sent as "Authorization: Bearer ..."
  std::string body{};                             // sent when method is not GET/DELETE or non-empty
  std::string content_type = "application/json";
  std::vector<std::string> headers{};             // extra raw header lines
  long timeout_ms = 15000;
  long ssl_version = 0;                         // CURL_SSLVERSION_* (0 = default)
  std::string ciphers{};                          // CURLOPT_SSL_CIPHER_LIST
  std::string tls13_ciphers{};                    // CURLOPT_TLS13_CIPHERS
  std::string client_cert{};                      // PEM file for mutual TLS
  std::string client_key{};
};

// One request over a fresh TLS connection (libcurl), verifying the daemon's
// self-signed certificate against the state directory's copy.
HttpResult Request(const Daemon& daemon, const std::string& method, const std::string& path,
                   const RequestOptions& options = {});

// A raw TLS connection for traffic no well-behaved client sends.
class RawTls {
 public:
  RawTls(int port, const std::string& cacert);
  ~RawTls();
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;
  bool connected() const { return ssl_ != nullptr; }
  // False once the peer has closed or the write failed.
  bool Send(const std::string& bytes);
  // Reads until the peer closes or `timeout_ms` passes without data.
  std::string ReadAll(int timeout_ms);
  // True if the peer closed the connection (read returns end of stream).
  bool PeerClosed(int timeout_ms);

 private:
  int fd_ = -1;
  void* ctx_ = nullptr;  // SSL_CTX*
  void* ssl_ = nullptr;  // SSL*
};

}  // namespace xgw::e2e

#endif  // XGW_TESTS_E2E_HARNESS_H_

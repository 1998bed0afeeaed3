#include "tests/e2e/harness.h"

#include "audit/audit_event.h"
#include "audit/event_codec.h"
#include "crypto/hash.h"
#include "crypto/merkle.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace xgw::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// 0..255 for a normal exit, 128+signal when killed by a signal.
int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

// XGW_TEST_XGWD runs the tests against another build of the daemon (e.g. an
// older one, to see a new test fail on it).
std::string XgwdPath() {
  if (const char* other = std::getenv("XGW_TEST_XGWD"); other != nullptr && *other != '\0') return other;
  return std::string(XGW_BIN_DIR) + "/xgwd";
}
std::string XgwPath() { return std::string(XGW_BIN_DIR) + "/xgw"; }

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) {
    if (status) *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::string MakeClientCertificate(const std::string& dir, const std::string& name) {
  int status = 0;
  RunCommand("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + dir +
                 "/" + name + ".key -out " + dir + "/" + name + ".crt -subj /CN=" + name +
                 " -days 1 2>/dev/null",
             &status);
  REQUIRE(status == 0);
  std::string pin = RunCommand("openssl x509 -in " + dir + "/" + name +
                               ".crt -pubkey -noout | openssl pkey -pubin -outform der | "
                               "sha256sum | cut -c1-64");
  pin.erase(pin.find_last_not_of('\n') + 1);
  REQUIRE(pin.size() == 64);
  return "sha256:" + pin;
}

std::unique_ptr<Daemon> Daemon::Start(const json& overrides,
                                      const std::vector<std::string>& init_args) {
  std::unique_ptr<Daemon> d(new Daemon());
  char tmpl[] = "/tmp/xgw-e2e-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  d->dir_ = tmpl;
  const std::string state = d->dir_ + "/state";
  int status = 0;
  std::string extra;
  for (const auto& a : init_args) extra += " " + a;
  const std::string out = RunCommand(
      XgwdPath() + " init --state " + state + " --listen 127.0.0.1:0" + extra + " 2>&1", &status);
  INFO(out.substr(0, out.find("operator-token")));
  REQUIRE(status == 0);
  const std::string marker = "operator-token: ";
  const auto pos = out.find(marker);
  REQUIRE(pos != std::string::npos);
  d->operator_token_ = out.substr(pos + marker.size(), out.find('\n', pos) - pos - marker.size());
  d->config_path_ = state + "/xgwd.json";
  d->cacert_ = state + "/tls/server.crt";
  d->log_path_ = d->dir_ + "/xgwd.log";
  // Tests drive the daemon far faster than any person: request-rate limits
  // are off unless a test sets them (their own tests do). An older daemon
  // under XGW_TEST_XGWD may not know these keys.
  json config = json::object();
  if (std::getenv("XGW_TEST_XGWD") == nullptr) {
    config = {{"limits", {{"requests_per_second_per_address", 0}, {"requests_per_second_per_token", 0}}}};
  }
  // ctest runs some suites a second time with small ciphertexts packed into
  // segment files (tests/e2e/CMakeLists.txt, "e2e_packed: ...").
  if (const char* packed = std::getenv("XGW_E2E_PACKED_BLOB_MAX_BYTES")) {
    config["exchanges"]["packed_blob_max_bytes"] = std::stoull(packed);
  }
  if (overrides.is_object()) config.merge_patch(overrides);
  d->RewriteConfig(config);

  d->Launch();
  return d;
}

void Daemon::Launch() {
  port_ = 0;
  const std::string port_file = dir_ + "/port";
  ::unlink(port_file.c_str());
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const std::string bin = XgwdPath();
    ::execl(bin.c_str(), bin.c_str(), "serve", "-c", config_path_.c_str(), "--port-file",
            port_file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(port_file)) {
      port_ = std::atoi(ReadFile(port_file).c_str());
      if (port_ > 0) break;
    }
    if (!Alive()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  INFO("xgwd log:\n" << Log());
  REQUIRE(port_ > 0);
}

void Daemon::Restart() {
  REQUIRE(pid_ <= 0);
  unreported_exit_ = 0;
  Launch();
}

Daemon::~Daemon() {
  // xgwd must exit 0 on SIGTERM: a crash, a sanitizer report or a hang at
  // shutdown is a failure of the test that owns this daemon, even when the
  // test never stops it itself. So is a daemon that died on its own earlier
  // (reaped by Alive()) and was never restarted.
  //
  // How to fail from a destructor: Catch2's REQUIRE/FAIL throw, and a throw
  // from a destructor terminates the whole run. CHECK does not throw (it only
  // records a failed assertion against the running test case), so it is safe
  // here, but only while no exception is in flight: during unwinding (a
  // REQUIRE already failed) the test has failed anyway, and a second
  // assertion would be reported against a test case Catch2 is abandoning, so
  // then the status is only printed.
  std::string what;
  if (pid_ > 0) {
    const int rc = StopAndWait(SIGTERM);
    if (rc != 0) {
      what = rc < 0 ? "xgwd did not exit within 20 s of SIGTERM (killed)"
                    : "xgwd exited with status " + std::to_string(rc) + " after SIGTERM";
    }
  } else if (unreported_exit_ != 0) {
    what = "xgwd exited on its own with status " + std::to_string(unreported_exit_);
  }
  if (!what.empty()) {
    const std::string log = Log();
    const std::string tail = log.size() > 4000 ? log.substr(log.size() - 4000) : log;
    if (std::uncaught_exceptions() == 0) {
      INFO(what << "; end of its log:\n" << tail);
      CHECK(what.empty());
    } else {
      std::fprintf(stderr, "%s; end of its log:\n%s\n", what.c_str(), tail.c_str());
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void Daemon::Signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Daemon::Alive() const {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  // Reaped here: StopAndWait has nothing left to wait for; the destructor
  // reports a non-zero exit unless the daemon is restarted.
  auto* self = const_cast<Daemon*>(this);
  if (r == pid_) self->unreported_exit_ = ExitCode(status);
  self->pid_ = -1;
  return false;
}

int Daemon::StopAndWait(int sig, int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return ExitCode(status);
}

int Daemon::WaitForExit(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int rc = unreported_exit_;
  unreported_exit_ = 0;
  return rc;
}

void Daemon::RewriteConfig(const json& overrides) {
  json config = json::parse(ReadFile(config_path_));
  if (overrides.is_object()) config.merge_patch(overrides);
  config["listen"] = "127.0.0.1:0";
  WriteFile(config_path_, config.dump(2));
}

std::string Daemon::Log() const { return ReadFile(log_path_); }

uint64_t Daemon::ResidentBytes() const {
  if (pid_ <= 0) return 0;
  const std::string status = ReadFile("/proc/" + std::to_string(pid_) + "/status");
  const size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::stoull(status.substr(at + 6)) * 1024;  // "VmRSS:   12345 kB"
}

json HttpResult::Json() const {
  return json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string HttpResult::Header(const std::string& name) const {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string want = lower(name) + ":";
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t end = headers.find("\r\n", pos);
    if (end == std::string::npos) end = headers.size();
    const std::string line = headers.substr(pos, end - pos);
    if (lower(line.substr(0, want.size())) == want) {
      std::string v = line.substr(want.size());
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    pos = end + 2;
  }
  return "";
}

HttpResult Request(const Daemon& daemon, const std::string& method, const std::string& path,
                   const RequestOptions& o) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  REQUIRE(curl);
  const std::string url = daemon.base_url() + path;
  curl_slist* headers = nullptr;
  std::string auth;
  if (!o.token.empty()) {
    auth = "Authorization: Bearer " + o.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  const bool send_body = !o.body.empty() || (method != "GET" && method != "DELETE");
  const std::string ct = "Content-Type: " + o.content_type;
  if (send_body) headers = curl_slist_append(headers, ct.c_str());
  for (const auto& h : o.headers) headers = curl_slist_append(headers, h.c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_CAINFO, daemon.cacert().c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  if (send_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.body.size()));
  }
  if (o.ssl_version) curl_easy_setopt(curl, CURLOPT_SSLVERSION, o.ssl_version);
  if (!o.ciphers.empty()) curl_easy_setopt(curl, CURLOPT_SSL_CIPHER_LIST, o.ciphers.c_str());
  if (!o.tls13_ciphers.empty()) curl_easy_setopt(curl, CURLOPT_TLS13_CIPHERS, o.tls13_ciphers.c_str());
  if (!o.client_cert.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, o.client_cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, o.client_key.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  result.curl_code = static_cast<int>(rc);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    char* ctype = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
    if (ctype) result.content_type = ctype;
  } else {
    result.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

RawTls::RawTls(int port, const std::string& cacert) {
  ::signal(SIGPIPE, SIG_IGN);  // a peer that closed must fail Send, not kill the test
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_ = ctx;
  SSL_CTX_load_verify_locations(ctx, cacert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd_);
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    return;
  }
  ssl_ = ssl;
}

RawTls::~RawTls() {
  if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
  if (ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

bool RawTls::Send(const std::string& bytes) {
  if (!ssl_) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    const int n = SSL_write(static_cast<SSL*>(ssl_), bytes.data() + off,
                            static_cast<int>(bytes.size() - off));
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string RawTls::ReadAll(int timeout_ms) {
  std::string out;
  if (!ssl_) return out;
  SSL* ssl = static_cast<SSL*>(ssl_);
  // Non-blocking while reading: a TLS 1.3 session ticket makes the socket
  // readable without application data, and a blocking SSL_read would then
  // wait for the daemon to close the connection, long after timeout_ms.
  const int flags = ::fcntl(fd_, F_GETFL);
  ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  while (true) {
    if (SSL_pending(ssl) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) break;
    }
    char buf[4096];
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
      break;  // closed, or an error
    }
  }
  ::fcntl(fd_, F_SETFL, flags);
  return out;
}

bool RawTls::PeerClosed(int timeout_ms) {
  if (!ssl_) return true;
  SSL* ssl = static_cast<SSL*>(ssl_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return true;
    }
  }
  return false;
}

namespace {

std::string MustRun(const std::string& command) {
  int status = 0;
  std::string out = RunCommand(command + " 2>&1", &status);
  INFO(command << ": " << out.substr(0, 2000));
  REQUIRE(status == 0);
  return out;
}

}  // namespace

std::string StoreFingerprint(const Daemon& daemon) {
  const std::string state = daemon.dir() + "/state";
  std::istringstream dump(MustRun("sqlite3 -readonly -cmd '.timeout 5000' " + state + "/xgwd.db .dump"));
  std::string out, line;
  const std::string tokens = "INSERT INTO api_tokens VALUES(";
  while (std::getline(dump, line)) {
    if (line.rfind(tokens, 0) == 0) {
      const auto comma = line.rfind(',');
      REQUIRE(comma != std::string::npos);
      line = line.substr(0, comma) + ",<last_used_at>);";
    }
    out += line + "\n";
  }
  // Segment files (packed ciphertexts) by the records they hold: a spare
  // segment prepared meanwhile, or a range written and punched again, is no
  // change to what is stored.
  const std::string not_segments = "-not -path 'blobs/segments/*'";
  out += "blobs:\n" + MustRun("cd " + state + " && find blobs " + not_segments + " -printf '%p %y %s\\n' | sort");
  out += MustRun("cd " + state + " && find blobs -type f " + not_segments +
                 " -print0 | sort -z | xargs -0 -r sha256sum");
  for (const auto& r : PackedBlobs(state)) out += "packed " + r + "\n";
  return out;
}

std::vector<std::string> PackedBlobs(const std::string& state_dir) {
  // The record layout of gateway/segment_blob_store.h: on 4 KiB boundaries,
  // "xgwseg01", checksum (8), data length (8, LE), id length (2, LE), id;
  // the data after the 128-byte header. Punched ranges read as zeros.
  std::vector<std::string> out;
  const std::string dir = state_dir + "/blobs/segments";
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".seg") continue;
    const std::string bytes = ReadFile(e.path().string());
    for (size_t off = 0; off + 128 <= bytes.size(); off += 4096) {
      if (bytes.compare(off, 8, "xgwseg01") != 0) continue;
      const auto* h = reinterpret_cast<const uint8_t*>(bytes.data() + off);
      uint64_t len = 0;
      for (int i = 7; i >= 0; --i) len = (len << 8) | h[16 + i];
      const size_t id_len = static_cast<size_t>(h[24]) | static_cast<size_t>(h[25]) << 8;
      if (id_len == 0 || id_len > 102 || off + 128 + len > bytes.size()) continue;
      const std::string id = bytes.substr(off + 26, id_len);
      const auto digest = xgw::Sha256::Hash(std::string_view(bytes).substr(off + 128, len));
      out.push_back(id + " " + std::to_string(len) + " " + xgw::HexEncode(digest));
      off += (128 + len + 4095) / 4096 * 4096 - 4096;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool BlobStored(const std::string& state_dir, const std::string& id) {
  return StoredBlobIds(state_dir).contains(id);
}

std::set<std::string> StoredBlobIds(const std::string& state_dir) {
  std::set<std::string> ids;
  for (const auto& r : PackedBlobs(state_dir)) ids.insert(r.substr(0, r.find(' ')));
  for (const auto& e : std::filesystem::directory_iterator(state_dir + "/blobs")) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() > 4 && name.ends_with(".age")) ids.insert(name.substr(0, name.size() - 4));
  }
  return ids;
}

size_t StoredBlobCount(const std::string& state_dir) {
  size_t n = PackedBlobs(state_dir).size();
  for (const auto& e : std::filesystem::recursive_directory_iterator(state_dir + "/blobs")) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "segments") ++n;
  }
  return n;
}

std::string AuditFingerprint(const Daemon& daemon) {
  return MustRun("sqlite3 -readonly -cmd '.timeout 5000' " + daemon.dir() +
                 "/state/audit.db \"SELECT idx, hex(event) FROM events "
                 "ORDER BY idx; SELECT level, idx, hex(hashes) FROM tiles ORDER BY 1, 2; "
                 "SELECT size, note FROM checkpoints ORDER BY size; "
                 "SELECT key, value FROM meta WHERE key <> 'indexed_upto' ORDER BY key;\"");
}

std::string LineDiff(const std::string& before, const std::string& after) {
  if (before == after) return "";
  const auto lines = [](const std::string& text) {
    std::multiset<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.insert(line);
    return out;
  };
  const auto a = lines(before), b = lines(after);
  std::string diff;
  for (const auto& l : a) {
    if (a.count(l) > b.count(l)) diff += "- " + l + "\n";
  }
  for (const auto& l : b) {
    if (b.count(l) > a.count(l)) diff += "+ " + l + "\n";
  }
  return diff.empty() ? "(same lines, in another order)\n" : diff;
}

// "idx|action|outcome|leaf hash" per stored event, decoded from its stored
// form (audit/event_codec.h).
std::vector<std::string> AuditEventLines(const Daemon& daemon) {
  std::istringstream in(MustRun("sqlite3 -readonly -cmd '.timeout 5000' " + daemon.dir() +
                                "/state/audit.db 'SELECT idx, hex(event) FROM events ORDER BY idx'"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    const auto bar = line.find('|');
    REQUIRE(bar != std::string::npos);
    auto bytes = xgw::HexDecode(line.substr(bar + 1));
    REQUIRE(bytes);
    std::string event;
    REQUIRE(xgw::DecodeStoredEvent(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()),
                                   event));
    auto parsed = xgw::ParseAuditEvent(event);
    REQUIRE(parsed);
    lines.push_back(line.substr(0, bar) + "|" + std::string(xgw::AuditActionName(parsed->action)) + "|" +
                    std::string(xgw::AuditOutcomeName(parsed->outcome)) + "|" +
                    xgw::HexEncode(xgw::MerkleLeafHash(event)));
  }
  return lines;
}

FaultDir::FaultDir() {
  char tmpl[] = "/tmp/xgw-faults-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  path_ = tmpl;
  ::setenv("XGW_FAULT_DIR", path_.c_str(), 1);
}

FaultDir::~FaultDir() {
  ::unsetenv("XGW_FAULT_DIR");
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void FaultDir::Fail(const std::string& point) {
  std::ofstream out(path_ + "/" + point);
  out.put('1');
  out.close();
  REQUIRE(fs::exists(path_ + "/" + point));
}

void FaultDir::Heal(const std::string& point) {
  std::error_code ec;
  fs::remove(path_ + "/" + point, ec);
  REQUIRE_FALSE(fs::exists(path_ + "/" + point));
}

void CheckAuditVerifies(const std::string& state_dir) {
  int status = 0;
  const std::string output = RunCommand(XgwdPath() + " audit-verify --state " + state_dir + " 2>&1", &status);
  INFO("xgwd audit-verify: " << output);
  CHECK(status == 0);
}

nlohmann::json MustJson(const HttpResult& r, long status) {
  INFO("status " << r.status << " curl " << r.curl_error << " body " << r.body);
  REQUIRE(r.status == status);
  nlohmann::json j = r.Json();
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

bool IsProblem(const HttpResult& r) {
  const nlohmann::json j = r.Json();
  return r.content_type == "application/problem+json" && j.is_object() && j.contains("type") &&
         j.contains("title") && j.contains("status") && j.contains("detail") && j.contains("request_id");
}

bool ContainsId(const nlohmann::json& list, const std::string& id) {
  if (!list.is_object() || !list.contains("items")) return false;
  for (const auto& it : list["items"]) {
    if (it.is_object() && it.value("id", "") == id) return true;
  }
  return false;
}

long MetricValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stol(text.substr(pos + name.size() + 1));
    pos += name.size();
  }
  return -1;
}

bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::string AuditText(const Daemon& daemon) {
  int rc = -1;
  std::string out = RunCommand("sqlite3 -readonly -cmd '.timeout 5000' " + daemon.dir() +
                                   "/state/audit.db \"SELECT CAST(event AS TEXT) FROM events ORDER BY idx;\"",
                               &rc);
  REQUIRE(rc == 0);
  REQUIRE(out.find("auth.") != std::string::npos);
  return out;
}

std::vector<uint8_t> Base32Decode(const std::string& s) {
  std::vector<uint8_t> out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : s) {
    buffer = (buffer << 5) | static_cast<uint32_t>(c >= 'A' && c <= 'Z' ? c - 'A' : c - '2' + 26);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace xgw::e2e

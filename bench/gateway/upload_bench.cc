// Load driver for bench/gateway: the same libcurl code uploads to nginx (one
// WebDAV PUT per upload) and to xgwd (POST /api/v1/exchanges with a prepared
// manifest request, then PUT of the age file to the returned upload_url; or,
// with --one-request, POST /api/v1/exchanges/upload of the manifest request,
// a newline and the age file), so the two servers are measured with one client. HTTP/1.1 over TLS 1.3,
// certificate verified, one keep-alive connection per thread.
//
// Two measurements:
//   small:  --threads N --seconds S: every thread uploads the in-memory body
//           back to back for S seconds (after one warm-up upload per thread
//           that opens the connection and is not counted); prints uploads/s
//           and p50/p99 latency of one whole upload.
//   large:  --stream: one upload of the file, streamed from disk with a read
//           callback; prints MB/s (10^6 bytes per second of wall time).
//
// Output: one line of key=value pairs on stdout (run.sh parses it). The first
// failed response is printed to stderr (status and at most 300 bytes).
//
// Not part of the project build (CI does not run benchmarks): run.sh compiles
// it with g++ against the system libcurl.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "round_line.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string base_url;  // https://127.0.0.1:PORT
  std::string cacert;
  std::string mode;      // nginx | xgwd
  std::string body_file;
  std::string token;        // xgwd bearer token
  std::string create_file;  // xgwd: JSON body of POST /api/v1/exchanges
  std::string prefix = "/upload/";  // nginx: PUT prefix
  int threads = 8;
  double seconds = 10;
  bool stream = false;
  bool one_request = false;  // xgwd: POST /api/v1/exchanges/upload
  int names = 256;  // nginx: file names per thread (overwritten in turn)
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "upload_bench: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// A streamed body: `prefix` from memory, then the file.
struct FileReader {
  int fd = -1;
  std::string prefix;
  size_t prefix_sent = 0;
};

size_t ReadFromFile(char* buf, size_t size, size_t n, void* user) {
  auto* r = static_cast<FileReader*>(user);
  if (r->prefix_sent < r->prefix.size()) {
    const size_t k = std::min(size * n, r->prefix.size() - r->prefix_sent);
    std::memcpy(buf, r->prefix.data() + r->prefix_sent, k);
    r->prefix_sent += k;
    return k;
  }
  const ssize_t got = ::read(r->fd, buf, size * n);
  if (got < 0) return CURL_READFUNC_ABORT;
  return static_cast<size_t>(got);
}

std::once_flag g_reported;

void ReportFailure(const std::string& what, long status, const std::string& body) {
  std::call_once(g_reported, [&] {
    std::fprintf(stderr, "upload_bench: %s failed: HTTP %ld %.300s\n", what.c_str(), status,
                 body.c_str());
  });
}

// One connection (curl easy handle reused, so keep-alive) and its requests.
class Client {
 public:
  explicit Client(const Options& o) : o_(o), curl_(curl_easy_init()) {
    if (!o_.token.empty()) auth_ = "Authorization: Bearer " + o_.token;
  }
  ~Client() { curl_easy_cleanup(curl_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request; body from memory (data/size) or, when fd >= 0,
  // `prefix` then the file (size counts both).
  long Send(const char* method, const std::string& path, const char* content_type,
            const char* data, size_t size, int fd, std::string* response, const std::string& prefix = "") {
    curl_easy_reset(curl_);
    response->clear();
    curl_slist* headers = nullptr;
    if (!auth_.empty()) headers = curl_slist_append(headers, auth_.c_str());
    const std::string ct = std::string("Content-Type: ") + content_type;
    headers = curl_slist_append(headers, ct.c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip, both servers
    const std::string url = o_.base_url + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(curl_, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_3));
    curl_easy_setopt(curl_, CURLOPT_CAINFO, o_.cacert.c_str());
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 600L);
    FileReader reader{fd, prefix};
    if (fd >= 0) {
      curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
      curl_easy_setopt(curl_, CURLOPT_READFUNCTION, ReadFromFile);
      curl_easy_setopt(curl_, CURLOPT_READDATA, &reader);
      curl_easy_setopt(curl_, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    } else {
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, data);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
    }
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    long status = 0;
    if (rc != CURLE_OK) {
      ReportFailure(std::string(method) + " " + path + " (" + curl_easy_strerror(rc) + ")", 0, "");
      return 0;
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }

  // One upload as the server defines it. Returns false on any failure.
  bool Upload(const std::string& name, const std::string& body, int fd, size_t size) {
    const char* data = fd >= 0 ? nullptr : body.data();
    const size_t n = fd >= 0 ? size : body.size();
    if (o_.mode == "nginx") {
      const long s = Send("PUT", o_.prefix + name, "application/octet-stream", data, n, fd, &resp_);
      if (s != 201 && s != 204) {
        ReportFailure("PUT " + o_.prefix + name, s, resp_);
        return false;
      }
      return true;
    }
    if (o_.one_request) {
      // Small bodies arrive already prefixed (see main); streamed ones get
      // the prefix from the reader.
      const long s = Send("POST", "/api/v1/exchanges/upload", "application/vnd.xgw.exchange", data, n, fd,
                          &resp_, fd >= 0 ? create_ + "\n" : "");
      if (s != 201) {
        ReportFailure("POST /api/v1/exchanges/upload", s, resp_);
        return false;
      }
      return true;
    }
    const long s1 = Send("POST", "/api/v1/exchanges", "application/json", create_.data(),
                         create_.size(), -1, &resp_);
    if (s1 != 201) {
      ReportFailure("POST /api/v1/exchanges", s1, resp_);
      return false;
    }
    // The response is small JSON; take "upload_url" (or build it from "id")
    // without a JSON library so the driver needs only libcurl.
    std::string url = Field("upload_url");
    if (url.empty()) {
      const std::string id = Field("id");
      if (id.empty()) {
        ReportFailure("POST /api/v1/exchanges (no id in response)", s1, resp_);
        return false;
      }
      url = "/api/v1/exchanges/" + id + "/content";
    }
    const long s2 = Send("PUT", url, "application/octet-stream", data, n, fd, &resp_);
    if (s2 < 200 || s2 > 299) {
      ReportFailure("PUT content", s2, resp_);
      return false;
    }
    return true;
  }

  std::string create_;

 private:
  std::string Field(const std::string& key) const {
    const std::string needle = "\"" + key + "\"";
    size_t p = resp_.find(needle);
    if (p == std::string::npos) return "";
    p = resp_.find('"', resp_.find(':', p + needle.size()));
    if (p == std::string::npos) return "";
    const size_t e = resp_.find('"', p + 1);
    if (e == std::string::npos) return "";
    return resp_.substr(p + 1, e - p - 1);
  }

  const Options& o_;
  CURL* curl_;
  std::string auth_;
  std::string resp_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: upload_bench --mode nginx|xgwd --url https://127.0.0.1:PORT --cacert FILE\n"
               "         --body FILE [--stream] [--threads N] [--seconds S]\n"
               "         [--token TOKEN --create FILE [--one-request]]   (xgwd)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool v = i + 1 < argc;
    if (a == "--mode" && v) o.mode = argv[++i];
    else if (a == "--url" && v) o.base_url = argv[++i];
    else if (a == "--cacert" && v) o.cacert = argv[++i];
    else if (a == "--body" && v) o.body_file = argv[++i];
    else if (a == "--token" && v) o.token = argv[++i];
    else if (a == "--create" && v) o.create_file = argv[++i];
    else if (a == "--prefix" && v) o.prefix = argv[++i];
    else if (a == "--threads" && v) o.threads = std::atoi(argv[++i]);
    else if (a == "--seconds" && v) o.seconds = std::atof(argv[++i]);
    else if (a == "--stream") o.stream = true;
    else if (a == "--one-request") o.one_request = true;
    else return Usage();
  }
  if ((o.mode != "nginx" && o.mode != "xgwd") || o.base_url.empty() || o.body_file.empty() ||
      o.threads < 1 || (o.mode == "xgwd" && (o.token.empty() || o.create_file.empty())))
    return Usage();
  curl_global_init(CURL_GLOBAL_ALL);
  const std::string create = o.mode == "xgwd" ? ReadAll(o.create_file) : "";

  if (o.stream) {
    const int fd = ::open(o.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      std::fprintf(stderr, "upload_bench: cannot open %s\n", o.body_file.c_str());
      return 2;
    }
    Client c(o);
    c.create_ = create;
    const auto t0 = Clock::now();
    const size_t prefix = o.one_request ? create.size() + 1 : 0;
    const bool ok = c.Upload("large", "", fd, static_cast<size_t>(st.st_size) + prefix);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(fd);
    std::printf("ok=%d bytes=%lld seconds=%.3f mbps=%.1f\n", ok ? 1 : 0,
                static_cast<long long>(st.st_size), s,
                static_cast<double>(st.st_size) / s / 1e6);
    curl_global_cleanup();
    return ok ? 0 : 1;
  }

  const std::string body = o.one_request ? create + "\n" + ReadAll(o.body_file) : ReadAll(o.body_file);
  std::vector<std::vector<double>> lat(static_cast<size_t>(o.threads));
  std::atomic<long> errors{0};
  std::atomic<bool> stop{false};
  std::barrier sync(o.threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      Client c(o);
      c.create_ = create;
      const std::string base = "t" + std::to_string(t) + "-";
      if (!c.Upload(base + "warm", body, -1, 0)) errors++;
      sync.arrive_and_wait();  // all connected
      sync.arrive_and_wait();  // go
      auto& mine = lat[static_cast<size_t>(t)];
      for (long n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const auto t0 = Clock::now();
        const bool ok = c.Upload(base + std::to_string(n % o.names), body, -1, 0);
        const auto t1 = Clock::now();
        if (ok) mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        else errors++;
      }
    });
  }
  sync.arrive_and_wait();
  const auto start = Clock::now();
  sync.arrive_and_wait();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  xgw::bench::PrintRoundLine(lat, errors.load(), elapsed);
  curl_global_cleanup();
  return errors.load() == 0 ? 0 : 1;
}

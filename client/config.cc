#include "client/config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "crypto/io.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with mode 0700 for the directories it creates.
Result<void> MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "." || dir == "/") return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return {};
  XGW_CHECK(MakeDirs(DirName(dir)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return tl::unexpected(IoError("create directory", dir, errno));
  return {};
}

Result<std::string> ReadSmallFile(const std::string& path, bool* exists) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      *exists = false;
      return std::string();
    }
    return tl::unexpected(IoError("stat", path, errno));
  }
  *exists = true;
  if ((st.st_mode & 077) != 0)
    return Fail(ErrorCode::kForbidden, path + " is readable by other users; run `chmod 600 " + path + "`");
  XGW_TRY(FileSource f, FileSource::Open(path));
  StringSink s;
  XGW_CHECK(Copy(f, s));
  return s.str();
}

Result<void> WriteJson0600(const std::string& path, const json& j) {
  XGW_CHECK(MakeDirs(DirName(path)));
  XGW_TRY(AtomicFile f, AtomicFile::Create(path, 0600));
  std::string text = j.dump(2) + "\n";
  XGW_CHECK(f.Write(AsBytes(text)));
  return f.Commit();
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string ConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* p = std::getenv("XGW_CONFIG"); p != nullptr && *p != '\0') return p;
  if (const char* p = std::getenv("XDG_CONFIG_HOME"); p != nullptr && *p != '\0')
    return std::string(p) + "/xgw/config.json";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.config/xgw/config.json";
}

Result<ClientConfig> LoadConfig(const std::string& path) {
  bool exists = false;
  XGW_TRY(std::string text, ReadSmallFile(path, &exists));
  if (!exists) return Fail(ErrorCode::kNotFound, "no client configuration at " + path);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Fail(ErrorCode::kFormat, "the client configuration " + path + " is not a JSON object");
  ClientConfig c;
  c.gateway_url = Str(j, "gateway_url");
  c.token = Str(j, "token");
  c.pin = Str(j, "pin");
  c.cacert = Str(j, "cacert");
  c.identity_file = Str(j, "identity_file");
  c.subject_key_file = Str(j, "subject_key_file");
  c.subject_key_id = Str(j, "subject_key_id");
  c.user_id = Str(j, "user_id");
  c.organisation_id = Str(j, "organisation_id");
  c.time_zone = Str(j, "time_zone");
  if (c.gateway_url.empty()) return Fail(ErrorCode::kFormat, "the client configuration " + path + " has no gateway_url");
  return c;
}

Result<void> SaveConfig(const std::string& path, const ClientConfig& c) {
  json j = {{"gateway_url", c.gateway_url},         {"token", c.token},
            {"pin", c.pin},                         {"cacert", c.cacert},
            {"identity_file", c.identity_file},     {"subject_key_file", c.subject_key_file},
            {"subject_key_id", c.subject_key_id},   {"user_id", c.user_id},
            {"organisation_id", c.organisation_id}, {"time_zone", c.time_zone}};
  return WriteJson0600(path, j);
}

Result<ClientState> LoadState(const std::string& config_path) {
  bool exists = false;
  XGW_TRY(std::string text, ReadSmallFile(config_path + ".state.json", &exists));
  ClientState s;
  if (!exists) return s;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Fail(ErrorCode::kFormat, "the client state file " + config_path + ".state.json is damaged");
  s.audit_verifier_key = Str(j, "audit_verifier_key");
  s.audit_checkpoint = Str(j, "audit_checkpoint");
  return s;
}

Result<void> SaveState(const std::string& config_path, const ClientState& s) {
  return WriteJson0600(config_path + ".state.json",
                       {{"audit_verifier_key", s.audit_verifier_key}, {"audit_checkpoint", s.audit_checkpoint}});
}

}  // namespace xgw::cli

#include "gateway/state_init.h"

#include <dirent.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <optional>

#include "config/config.h"
#include "crypto/io.h"
#include "crypto/secret.h"
#include "gateway/identity_rules.h"
#include "gateway/identity_store.h"
#include "gateway/account_crypto.h"
#include "gateway/signing_key.h"
#include "gateway/http/tls.h"

namespace xgw {
namespace {

Result<void> MakePrivateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return tl::unexpected<Error>(IoError("mkdir", path, errno));
  }
  if (::chmod(path.c_str(), 0700) != 0) return tl::unexpected<Error>(IoError("chmod", path, errno));
  return {};
}

bool IsEmptyDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

std::string ParentDir(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// Undoes a half-done init: unless Keep() is called, removes everything in
// the state directory (init only starts on an absent or empty one), the
// directory itself if init created it, and the config file if init wrote
// it. So a failed init leaves nothing that a retry would refuse.
class InitRollback {
 public:
  InitRollback(std::string state_dir, bool created_state_dir)
      : state_dir_(std::move(state_dir)), created_state_dir_(created_state_dir) {}
  InitRollback(const InitRollback&) = delete;
  InitRollback& operator=(const InitRollback&) = delete;
  ~InitRollback() {
    if (kept_) return;
    if (secret_) WipeMemory(secret_->data(), secret_->size());
    std::error_code ec;
    if (config_written_) ::unlink(config_path_.c_str());
    if (created_state_dir_) {
      std::filesystem::remove_all(state_dir_, ec);
    } else {
      for (const auto& entry : std::filesystem::directory_iterator(state_dir_, ec)) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
  }
  void ConfigWritten(const std::string& path) {
    config_path_ = path;
    config_written_ = true;
  }
  // A secret made on the way (the operator token), wiped if init fails.
  void WipeOnFailure(std::string* secret) { secret_ = secret; }
  void Keep() { kept_ = true; }

 private:
  std::string state_dir_;
  bool created_state_dir_;
  std::string config_path_;
  bool config_written_ = false;
  std::string* secret_ = nullptr;
  bool kept_ = false;
};

// Writes the secrets and the database into the (empty) state directory.
Result<void> BuildState(const Config& config, const InitOptions& o, InitResult& out) {
  XGW_CHECK(MakePrivateDir(config.BlobDir()));
  XGW_CHECK(MakePrivateDir(config.state_dir + "/tls"));
  XGW_CHECK(MakePrivateDir(config.state_dir + "/keys"));

  XGW_TRY(out.certificate_pin, CreateSelfSignedCertificate(config.tls.cert_file, config.tls.key_file,
                                                           kSelfSignedCertificateDays));
  out.certificate_pin_base64 = PinBase64Form(out.certificate_pin.substr(7));
  XGW_TRY(out.signing_public_key,
          CreateSigningKeyFiles(config.SigningKeyPath(), config.SigningPublicKeyPath()));
  // The key that encrypts people's TOTP secrets at rest (mode 0600).
  XGW_CHECK(LoadOrCreateAccountsKey(config.AccountsKeyPath()).map([](auto&&) {}));

  // Closed at the end of this function: a rollback then removes the files.
  XGW_TRY(auto store, IdentityStore::Open(config.DatabasePath()));
  const int64_t now = std::time(nullptr);
  XGW_TRY(auto org, store->CreateOrganisation(NewOrganisation{"xgw operators", {}, {}, o.operator_pins}, now));
  XGW_TRY(auto user, store->CreateUser(org.id, "operator", {std::string(kRoleOperator)}, now));
  XGW_TRY(auto token, store->IssueToken(user.id, o.token_ttl_seconds, "created by xgwd init", now));
  out.operator_org_id = org.id;
  out.operator_user_id = user.id;
  out.operator_token = std::move(token.secret);
  return {};
}

}  // namespace

Result<InitResult> InitStateDirectory(const InitOptions& o) {
  Config config;
  config.state_dir = o.state_dir;
  config.listen = o.listen;
  // Validate through the same parser the daemon uses.
  XGW_TRY(config, ParseConfig(nlohmann::json{{"state_dir", o.state_dir}, {"listen", o.listen}}));
  for (const auto& pin : o.operator_pins) {
    if (!NormalisePin(pin)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--operator-pin: give \"sha256:\" followed by the 64 hex digits of the SHA-256 "
                  "of the certificate's SubjectPublicKeyInfo, or \"sha256//\" followed by its "
                  "base64 (44 characters)");
    }
  }
  struct stat st{};
  const bool state_dir_existed = ::stat(config.state_dir.c_str(), &st) == 0;
  if (state_dir_existed && (!S_ISDIR(st.st_mode) || !IsEmptyDir(config.state_dir))) {
    return Fail(ErrorCode::kConflict, "state directory " + config.state_dir +
                                          " exists and is not empty; refusing to overwrite it");
  }
  InitResult out;
  out.config_path = o.config_path.empty() ? config.state_dir + "/xgwd.json" : o.config_path;
  if (::stat(out.config_path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kConflict,
                "config file " + out.config_path + " exists; refusing to overwrite it");
  }
  InitRollback rollback(config.state_dir, !state_dir_existed);
  XGW_CHECK(MakePrivateDir(config.state_dir));
  // The config file's temporary file comes first, so that the usual
  // mistake, a config directory this user cannot write, fails before any
  // secret is made (and the rollback empties the state directory again).
  auto config_file = AtomicFile::Create(out.config_path, 0640);
  if (!config_file) {
    return Fail(ErrorCode::kIo, config_file.error().message +
                                    "; the config file's directory must exist and be writable by "
                                    "this user (nothing was created)");
  }
  rollback.WipeOnFailure(&out.operator_token);
  XGW_CHECK(BuildState(config, o, out));

  // Only the two keys init chose are written; the rest stay at their
  // documented defaults (see `xgwd --dump-config`).
  const std::string text =
      nlohmann::json{{"state_dir", config.state_dir}, {"listen", config.listen}}.dump(2) + "\n";
  XGW_CHECK(config_file->Write(AsBytes(text)));
  rollback.ConfigWritten(out.config_path);
  XGW_CHECK(config_file->Commit());
  XGW_CHECK(SyncDirectory(config.state_dir));
  if (!state_dir_existed) XGW_CHECK(SyncDirectory(ParentDir(config.state_dir)));
  rollback.Keep();
  return out;
}

}  // namespace xgw

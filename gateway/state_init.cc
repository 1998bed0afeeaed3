#include "gateway/state_init.h"

#include <dirent.h>
#include <sys/stat.h>

#include <ctime>

#include "config/config.h"
#include "crypto/io.h"
#include "gateway/identity_rules.h"
#include "gateway/identity_store.h"
#include "gateway/signing_key.h"
#include "gateway/tls.h"

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
  if (::stat(config.state_dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode) || !IsEmptyDir(config.state_dir)) {
      return Fail(ErrorCode::kConflict, "state directory " + config.state_dir +
                                            " exists and is not empty; refusing to overwrite it");
    }
  }
  InitResult out;
  out.config_path = o.config_path.empty() ? config.state_dir + "/xgwd.json" : o.config_path;
  if (::stat(out.config_path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kConflict,
                "config file " + out.config_path + " exists; refusing to overwrite it");
  }
  XGW_CHECK(MakePrivateDir(config.state_dir));
  XGW_CHECK(MakePrivateDir(config.BlobDir()));
  XGW_CHECK(MakePrivateDir(config.state_dir + "/tls"));
  XGW_CHECK(MakePrivateDir(config.state_dir + "/keys"));

  XGW_TRY(out.certificate_pin,
          CreateSelfSignedCertificate(config.tls.cert_file, config.tls.key_file, 825));
  XGW_TRY(out.signing_public_key,
          CreateSigningKeyFiles(config.SigningKeyPath(), config.SigningPublicKeyPath()));

  XGW_TRY(auto store, IdentityStore::Open(config.DatabasePath()));
  const int64_t now = std::time(nullptr);
  XGW_TRY(auto org, store->CreateOrganisation(NewOrganisation{"xgw operators", {}, {}, o.operator_pins}, now));
  XGW_TRY(auto user, store->CreateUser(org.id, "operator", {std::string(kRoleOperator)}, now));
  XGW_TRY(auto token, store->IssueToken(user.id, o.token_ttl_seconds, "created by xgwd init", now));
  out.operator_org_id = org.id;
  out.operator_user_id = user.id;
  out.operator_token = std::move(token.secret);

  // Only the two keys init chose are written; the rest stay at their
  // documented defaults (see `xgwd --dump-config`).
  const std::string text =
      nlohmann::json{{"state_dir", config.state_dir}, {"listen", config.listen}}.dump(2) + "\n";
  XGW_TRY(auto f, AtomicFile::Create(out.config_path, 0640));
  XGW_CHECK(f.Write(AsBytes(text)));
  XGW_CHECK(f.Commit());
  XGW_CHECK(SyncDirectory(config.state_dir));
  return out;
}

}  // namespace xgw

#include "tests/client/cli_world.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/e2e/cir_test_data.h"

namespace xgw::e2e {

using nlohmann::json;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string ServerPin(const Daemon& daemon) {
  int rc = -1;
  const std::string b64 = RunCommand("openssl x509 -in " + daemon.cacert() +
                                         " -pubkey -noout | openssl pkey -pubin -outform der | "
                                         "openssl dgst -sha256 -binary | base64",
                                     &rc);
  REQUIRE(rc == 0);
  return "sha256//" + Trimmed(b64);
}

std::string XgwCli::Run(const std::string& user, const std::string& args, int* rc, std::string* err) {
  const std::string err_path = dir + "/last.err";
  const std::string out = RunCommand("cd " + dir + " && XGW_PASSPHRASE_FILE=" + dir + "/pass XGW_CONFIG=" + dir +
                                         "/" + user + ".json " + xgw + " " + args + " 2>" + err_path + " </dev/null",
                                     rc);
  const std::string e = ReadTextFile(err_path);
  if (err != nullptr) *err = e;
  UNSCOPED_INFO("xgw " << args << " (as " << user << ") -> " << *rc << "\nstderr: " << e);
  return out;
}

void XgwCli::Ok(const std::string& user, const std::string& args) {
  int rc = -1;
  Run(user, args, &rc);
  REQUIRE(rc == 0);
}

json XgwCli::RunJson(const std::string& user, const std::string& args) {
  int rc = -1;
  const std::string out = Run(user, args + " --json", &rc);
  REQUIRE(rc == 0);
  json j = json::parse(out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

CliWorld::CliWorld(CliWorldOptions options) : login_options_(std::move(options.login_options)) {
  xgw = options.xgw;
  json daemon_config = {{"clock", {{"mode", "manual"}, {"start", "2024-09-20T07:00:00Z"}}}};
  daemon_config.update(options.daemon_config);
  d = Daemon::Start(daemon_config);
  dir = d->dir() + "/client";
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/pass", "correct horse battery staple\n");
  WriteFile(dir + "/operator.tok", d->operator_token() + "\n");
  for (const auto& [name, text] : options.files) WriteFile(dir + "/" + name, text);
  protocol_doc = json::parse(ReadTextFile(kCirProtocolFile));
  protocol_doc["frequency"] = {{"kind", "periodic"}, {"max_transfers", 20}, {"per", "month"}};
  protocol_doc.update(options.protocol_fields);
  WriteFile(dir + "/protocol.json", protocol_doc.dump(2));

  pin = ServerPin(*d);
  Ok("operator", "login --gateway " + d->base_url() + " --token-file operator.tok --pin " + pin);
  thuispunt = RunJson("operator", "org create --name 'Thuispunt Gent' --enterprise-number 'BE 0400.032.156'")["id"];
  ocmw = RunJson("operator", "org create --name 'OCMW Gent' --enterprise-number 0212.214.125" +
                                 (options.ocmw_time_zone.empty() ? "" : " --time-zone " + options.ocmw_time_zone))["id"];
  MakeUser("sender", thuispunt, "sender");
  for (const auto& [name, role] : options.thuispunt_users) MakeUser(name, thuispunt, role);
  MakeUser("worker", ocmw, "social-worker-welzijnsbureau");
  Ok("operator", "protocol propose protocol.json");
  Ok("operator", "protocol accept " + kCliProtocolId + " --org " + thuispunt);
  Ok("operator", "protocol accept " + kCliProtocolId + " --org " + ocmw);
  Ok("operator", "protocol activate " + kCliProtocolId);
  Ok("sender", "register-key --new-identity sender.key --no-passphrase");
  Ok("worker", "register-key --new-identity worker.key --no-passphrase");
}

void CliWorld::MakeUser(const std::string& name, const std::string& org, const std::string& role) {
  const std::string id =
      RunJson("operator", "user create --org " + org + " --name '" + name + "' --role " + role)["id"];
  int rc = -1;
  const std::string token = RunCommand(
      "XGW_CONFIG=" + dir + "/operator.json " + xgw + " token issue " + id + " --ttl 300d 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  WriteFile(dir + "/" + name + ".tok", token);
  tokens[name] = Trimmed(token);
  Ok(name, "login --gateway " + d->base_url() + " --token-file " + name + ".tok --pin " + pin + login_options_);
}

}  // namespace xgw::e2e

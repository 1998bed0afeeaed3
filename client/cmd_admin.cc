// Operator commands: organisations, users, tokens, protocol lifecycle and the
// test clock. Also the `protocol` dispatcher (its `show` is for everyone).
#include <unistd.h>

#include <iostream>

#include "client/commands.h"
#include "client/exchange_crypto.h"
#include "client/protocol_view.h"
#include "client/session.h"
#include "policy/protocol_authoring.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kOrgUsage =
    "xgw org create --name NAME [--enterprise-number N] [--dpo-contact EMAIL] [--time-zone ZONE] [--json]\n"
    "       xgw org list [--json]\n"
    "       xgw org pin add ORG (PIN | --cert FILE) [--json]   (PIN: sha256//<base64> or sha256:<hex>)\n"
    "       xgw org pin list ORG [--json]\n"
    "       xgw org pin remove ORG (PIN | --cert FILE)";
constexpr std::string_view kUserUsage =
    "xgw user create --org ORG --name DISPLAY_NAME [--role ROLE]... [--json]\n"
    "       xgw user list --org ORG [--json]\n"
    "       xgw user roles USER --role ROLE... [--json]\n"
    "       xgw user invite USER --signin-name NAME [--ttl DURATION] [--json]\n"
    "       xgw user (unlock | disable | enable | mfa-reset) USER [--json]\n"
    "       xgw user sso USER [--subject VALUE | --remove] [--json]   (single sign-on subject)";
constexpr std::string_view kTokenUsage =
    "xgw token issue USER [--ttl DURATION] [--label TEXT] [--json]\n"
    "       xgw token list USER [--json]\n"
    "       xgw token revoke TOKEN_ID";
constexpr std::string_view kProtocolUsage =
    "xgw protocol show ID [--json]\n"
    "       xgw protocol diff ID [--json]   (what a pending new version changes)\n"
    "       xgw protocol new [-o FILE] [--force] [--id ID] [--title TEXT] [--time-zone ZONE]\n"
    "             [--sender PARTY_ID] [--sender-name NAME] [--sender-number N] [--receiver PARTY_ID]\n"
    "             [--receiver-name NAME] [--receiver-number N] [--country BE|NL] [--periodic day|week|month|year]\n"
    "             [--from YYYY-MM-DD] [--validity P1Y|YYYY-MM-DD] [--retention P3M|YYYY-MM-DD]\n"
    "       xgw protocol check FILE [--json]   (offline, with xgwd's own loader)\n"
    "       xgw protocol propose FILE [--json]\n"
    "       xgw protocol accept ID --org PARTY [--json]\n"
    "       xgw protocol (activate | suspend | terminate) ID [--json]";
constexpr std::string_view kClockUsage = "xgw clock advance DURATION   (test clock only; e.g. 3d, 12h, P30D)";

constexpr FlagSpec kAdminFlags[] = {
    {0, "name", true},  {0, "enterprise-number", true}, {0, "dpo-contact", true}, {0, "org", true},
    {0, "role", true},  {0, "ttl", true},                {0, "label", true},       {0, "cert", true},
    {0, "signin-name", true}, {0, "subject", true}, {0, "remove", false}, {0, "time-zone", true},
    kConfigFlag,
    kJsonFlag,          kHelpFlag,
};

struct AdminRun {
  Args args;
  std::optional<Gateway> gw;
};

// Parses, handles --help, loads the config. Returns an exit code to stop with.
std::optional<int> Start(std::span<char* const> argv, std::string_view usage, AdminRun* run) {
  auto args = ParseArgs(argv, kAdminFlags);
  if (!args) return UsageError(args.error().message, usage);
  if (args->Has("help")) return ShowHelp(usage);
  if (args->positional.empty()) return UsageError("missing subcommand", usage);
  run->args = std::move(*args);
  return std::nullopt;
}

// Loads the configuration once the arguments are known to be usable.
std::optional<int> Connect(AdminRun* run) {
  auto cfg = LoadClientConfig(run->args);
  if (!cfg) return Report(cfg.error());
  run->gw.emplace(std::move(*cfg));
  return std::nullopt;
}
#define XGW_CONNECT(run) \
  if (auto stop = Connect(&(run))) return *stop

int Show(const AdminRun& run, const json& j, const std::string& plain) {
  if (run.args.Has("json")) Print(j.dump(2) + "\n");
  else Print(plain);
  return kExitOk;
}

std::string JoinRoles(const json& roles) {
  std::string out;
  if (roles.is_array())
    for (const auto& r : roles) out += (out.empty() ? "" : ",") + (r.is_string() ? r.get<std::string>() : r.dump());
  return out;
}

// A pin as a path segment: "sha256:<hex>" → its hex id, "sha256//<base64>"
// → URL-safe base64 without padding; anything else as typed (the gateway
// checks it and says what it accepts).
std::string PinPathSegment(const std::string& pin) {
  if (pin.rfind("sha256:", 0) == 0) return pin.substr(7);
  if (pin.rfind("sha256//", 0) != 0) return pin;
  std::string s = pin.substr(8);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

// The pin of a PEM certificate file, as `sha256//<base64>`.
Result<std::string> PinOfCertificateFile(const std::string& path) {
  XGW_TRY(auto in, OpenInput(path));
  StringSink text;
  XGW_CHECK(Copy(*in, text));
  return PinOfPemCertificate(text.str());
}

int RunOrgPin(AdminRun& run) {
  const auto& a = run.args;
  const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
  const bool by_cert = a.Has("cert");
  const size_t want = sub == "list" || by_cert ? 3 : 4;
  if ((sub != "add" && sub != "list" && sub != "remove") || a.positional.size() != want ||
      (sub == "list" && by_cert)) {
    return UsageError("expected: org pin add ORG (PIN | --cert FILE) | org pin list ORG | "
                      "org pin remove ORG (PIN | --cert FILE)",
                      kOrgUsage);
  }
  const std::string& org = a.positional[2];
  std::string pin = a.positional.size() > 3 ? a.positional[3] : "";
  if (by_cert) {
    auto p = PinOfCertificateFile(*a.Last("cert"));
    if (!p) return Report(p.error(), "--cert takes the client certificate as a PEM file");
    pin = *p;
  }
  const std::string base = "/api/v1/orgs/" + UrlEncode(org) + "/client-pins";
  XGW_CONNECT(run);
  if (sub == "add") {
    auto r = run.gw->Json("POST", base, json{{"pin", pin}});
    if (!r) return Report(r.error(), "a pin is the SHA-256 of the certificate's public key: see docs/operator-guide.md");
    return Show(run, *r, "organisation " + org + " accepts client certificates with pin " + Str(*r, "pin_base64") +
                             " (id " + Str(*r, "id") + ")\n");
  }
  if (sub == "list") {
    auto r = run.gw->Json("GET", base);
    if (!r) return Report(r.error());
    std::string t;
    for (const auto& p : Items(*r)) t += Str(p, "id") + "  " + Str(p, "pin_base64") + "\n";
    return Show(run, Items(*r), t.empty() ? "No client-certificate pins.\n" : t);
  }
  auto r = run.gw->Json("DELETE", base + "/" + UrlEncode(PinPathSegment(pin)));
  if (!r) return Report(r.error());
  return Show(run, *r, "removed pin " + Str(*r, "id") + " from " + org +
                           "; certificates with it are refused from the next request on\n");
}

}  // namespace

int RunOrg(std::span<char* const> argv) {
  AdminRun run;
  if (auto stop = Start(argv, kOrgUsage, &run)) return *stop;
  const auto& a = run.args;
  const std::string& sub = a.positional[0];
  if (sub == "create") {
    if (a.positional.size() != 1 || !a.Has("name")) return UsageError("org create needs --name", kOrgUsage);
    json body = {{"name", *a.Last("name")}};
    if (auto e = a.Last("enterprise-number")) body["enterprise_number"] = *e;
    if (auto d = a.Last("dpo-contact")) body["dpo_contact"] = *d;
    if (auto z = a.Last("time-zone")) body["time_zone"] = *z;
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/orgs", body);
    if (!r) return Report(r.error());
    return Show(run, *r, "created organisation " + Str(*r, "id") + "\n");
  }
  if (sub == "pin") return RunOrgPin(run);
  if (sub == "list") {
    XGW_CONNECT(run);
    auto r = run.gw->Json("GET", "/api/v1/orgs");
    if (!r) return Report(r.error());
    std::string t;
    for (const auto& o : Items(*r))
      t += Str(o, "id") + "  " + Str(o, "enterprise_number") + "  " + Str(o, "name") + "  (" + Str(o, "time_zone") + ")\n";
    return Show(run, Items(*r), t.empty() ? "No organisations.\n" : t);
  }
  return UsageError("unknown org subcommand \"" + sub + "\"", kOrgUsage);
}

namespace {
// The gateway's warnings about what was done (a role no protocol names), on stderr.
void NoticeWarnings(const json& answer) {
  if (!answer.is_object() || !answer.contains("warnings") || !answer["warnings"].is_array()) return;
  for (const auto& w : answer["warnings"])
    if (w.is_string()) Notice("xgw: warning: " + w.get<std::string>());
}
}  // namespace

int RunUser(std::span<char* const> argv) {
  AdminRun run;
  if (auto stop = Start(argv, kUserUsage, &run)) return *stop;
  const auto& a = run.args;
  const std::string& sub = a.positional[0];
  if (sub == "create") {
    if (a.positional.size() != 1 || !a.Has("org") || !a.Has("name"))
      return UsageError("user create needs --org and --name", kUserUsage);
    json body = {{"display_name", *a.Last("name")}, {"roles", a.All("role")}};
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/orgs/" + UrlEncode(*a.Last("org")) + "/users", body);
    if (!r) return Report(r.error());
    NoticeWarnings(*r);
    return Show(run, *r, "created user " + Str(*r, "id") + " with roles " + JoinRoles((*r)["roles"]) +
                             "\nnext: `xgw token issue " + Str(*r, "id") + "` and hand the token to that person\n");
  }
  if (sub == "list") {
    if (!a.Has("org")) return UsageError("user list needs --org", kUserUsage);
    XGW_CONNECT(run);
    auto r = run.gw->Json("GET", "/api/v1/orgs/" + UrlEncode(*a.Last("org")) + "/users");
    if (!r) return Report(r.error());
    std::string t;
    for (const auto& u : Items(*r)) {
      bool keys = u.contains("keys") && u["keys"].is_object();
      t += Str(u, "id") + "  " + Str(u, "display_name") + "  roles=" + JoinRoles(u.value("roles", json::array())) +
           (keys ? "  keys registered" : "  no keys yet") + "\n";
    }
    return Show(run, Items(*r), t.empty() ? "No users.\n" : t);
  }
  if (sub == "roles") {
    if (a.positional.size() != 2) return UsageError("user roles needs the user id", kUserUsage);
    json body = {{"roles", a.All("role")}};
    XGW_CONNECT(run);
    auto r = run.gw->Json("PUT", "/api/v1/users/" + UrlEncode(a.positional[1]) + "/roles", body);
    if (!r) return Report(r.error());
    NoticeWarnings(*r);
    return Show(run, *r, "roles of " + a.positional[1] + " are now: " + JoinRoles((*r)["roles"]) + "\n");
  }
  if (sub == "invite") {
    if (a.positional.size() != 2 || !a.Has("signin-name"))
      return UsageError("user invite needs the user id and --signin-name", kUserUsage);
    json body = {{"signin_name", *a.Last("signin-name")}};
    if (auto ttl = a.Last("ttl")) {
      auto s = ParseDurationSeconds(*ttl);
      if (!s || *s <= 0) return UsageError("--ttl takes a duration such as 72h or 3d", kUserUsage);
      body["ttl_seconds"] = *s;
    }
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/users/" + UrlEncode(a.positional[1]) + "/invitations", body);
    if (!r) return Report(r.error());
    // The one time the code is shown: stdout only, so it can be handed on.
    if (a.Has("json")) return Show(run, *r, "");
    Print(Str(*r, "code") + "\n");
    Notice("invitation for " + Str(*r, "signin_name") + " valid until " + Str(*r, "expires_at") +
           "; the person runs `xgw enrol --gateway URL --code CODE`");
    return kExitOk;
  }
  if (sub == "unlock" || sub == "disable" || sub == "enable" || sub == "mfa-reset") {
    if (a.positional.size() != 2) return UsageError("user " + sub + " needs the user id", kUserUsage);
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/users/" + UrlEncode(a.positional[1]) + "/" + sub);
    if (!r) return Report(r.error());
    return Show(run, *r, "user " + a.positional[1] + ": " + sub + " done\n");
  }
  if (sub == "sso") {
    if (a.positional.size() != 2 || (a.Has("subject") && a.Has("remove"))) {
      return UsageError("user sso needs the user id and at most one of --subject, --remove", kUserUsage);
    }
    const std::string path = "/api/v1/users/" + UrlEncode(a.positional[1]) + "/sso";
    XGW_CONNECT(run);
    Result<json> r = a.Has("subject")  ? run.gw->Json("PUT", path, json{{"subject", *a.Last("subject")}})
                     : a.Has("remove") ? run.gw->Json("DELETE", path)
                                       : run.gw->Json("GET", path);
    if (!r) return Report(r.error());
    std::string t = "user " + a.positional[1] + ": ";
    if (r->value("registered", false)) {
      t += "single sign-on subject registered (claim " + r->value("claim", std::string("?")) + " of " +
           r->value("issuer", std::string("?")) + ")\n";
    } else {
      t += "no single sign-on subject\n";
    }
    return Show(run, *r, t);
  }
  return UsageError("unknown user subcommand \"" + sub + "\"", kUserUsage);
}

int RunToken(std::span<char* const> argv) {
  AdminRun run;
  if (auto stop = Start(argv, kTokenUsage, &run)) return *stop;
  const auto& a = run.args;
  const std::string& sub = a.positional[0];
  if (a.positional.size() != 2) return UsageError("give exactly one id", kTokenUsage);
  if (sub == "issue") {
    json body = json::object();
    if (auto ttl = a.Last("ttl")) {
      auto s = ParseDurationSeconds(*ttl);
      if (!s || *s <= 0) return UsageError("--ttl takes a duration such as 90d, 12h or P30D", kTokenUsage);
      body["ttl_seconds"] = *s;
    }
    if (auto l = a.Last("label")) body["label"] = *l;
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/users/" + UrlEncode(a.positional[1]) + "/tokens", body);
    if (!r) return Report(r.error());
    // The one time the secret is shown: stdout only, so it can be piped to a file.
    if (a.Has("json")) {
      Print(r->dump(2) + "\n");
    } else {
      Print(Str(*r, "token") + "\n");
      Notice("xgw: token " + Str(*r, "id") + " for " + a.positional[1] + ", valid until " + Str(*r, "expires_at") +
             ". It is shown only now: hand it over securely (`xgw login --token-file`).");
    }
    return kExitOk;
  }
  if (sub == "list") {
    XGW_CONNECT(run);
    auto r = run.gw->Json("GET", "/api/v1/users/" + UrlEncode(a.positional[1]) + "/tokens");
    if (!r) return Report(r.error());
    std::string t;
    for (const auto& k : Items(*r))
      t += Str(k, "id") + "  " + Str(k, "state") + "  expires " + LocalTime(Str(k, "expires_at")) + "  " +
           Str(k, "label") + "\n";
    return Show(run, Items(*r), t.empty() ? "No tokens.\n" : t);
  }
  if (sub == "revoke") {
    XGW_CONNECT(run);
    auto r = run.gw->Json("DELETE", "/api/v1/tokens/" + UrlEncode(a.positional[1]));
    if (!r) return Report(r.error());
    return Show(run, *r, "revoked token " + a.positional[1] + "\n");
  }
  return UsageError("unknown token subcommand \"" + sub + "\"", kTokenUsage);
}

constexpr FlagSpec kNewFlags[] = {
    {'o', "output", true},  {0, "force", false},         {0, "id", true},        {0, "title", true},
    {0, "time-zone", true}, {0, "sender", true},         {0, "sender-name", true}, {0, "sender-number", true},
    {0, "receiver", true},  {0, "receiver-name", true},  {0, "receiver-number", true}, {0, "country", true},
    {0, "periodic", true},  {0, "from", true},           {0, "validity", true},  {0, "retention", true},
    kHelpFlag,
};
constexpr FlagSpec kCheckFlags[] = {kJsonFlag, kHelpFlag};

// `xgw protocol new`: a commented skeleton from flags, or from questions on
// a terminal for the answers the flags did not give.
int RunProtocolNew(std::span<char* const> argv) {
  auto args = ParseArgs(argv, kNewFlags);
  if (!args) return UsageError(args.error().message, kProtocolUsage);
  if (args->Has("help")) return ShowHelp(kProtocolUsage);
  if (!args->positional.empty()) return UsageError("protocol new takes no arguments; use -o FILE", kProtocolUsage);
  const bool ask = ::isatty(0) == 1;
  auto answer = [&](std::string_view flag, std::string_view question) -> std::string {
    if (auto v = args->Last(flag)) return *v;
    if (!ask) return {};
    std::cerr << question << " (empty: a TODO to fill in later): " << std::flush;
    std::string line;
    std::getline(std::cin, line);
    return line;
  };
  SkeletonAnswers a;
  a.id = answer("id", "Protocol id, e.g. the decision number");
  a.title = answer("title", "Title");
  if (auto z = args->Last("time-zone")) a.time_zone = *z;
  const std::string country = args->Last("country").value_or("BE");
  if (country != "BE" && country != "NL") return UsageError("--country is BE or NL", kProtocolUsage);
  if (country == "NL" && !args->Has("time-zone")) a.time_zone = "Europe/Amsterdam";
  a.sender.country = a.receiver.country = country;
  a.sender.id = args->Last("sender").value_or("");
  a.sender.name = answer("sender-name", "Sending organisation's name");
  a.sender.enterprise_number = answer("sender-number", "Sending organisation's enterprise number");
  a.receiver.id = args->Last("receiver").value_or("");
  a.receiver.name = answer("receiver-name", "Receiving organisation's name");
  a.receiver.enterprise_number = answer("receiver-number", "Receiving organisation's enterprise number");
  a.period = args->Last("periodic").value_or("");
  if (!a.period.empty() && a.period != "day" && a.period != "week" && a.period != "month" && a.period != "year") {
    return UsageError("--periodic is day, week, month or year", kProtocolUsage);
  }
  a.valid_from = answer("from", "First day in force (YYYY-MM-DD)");
  if (auto v = args->Last("validity")) a.validity = *v;
  if (auto r = args->Last("retention")) a.retention = *r;
  const std::string path = args->Last("output").value_or("-");
  auto out = Output::Open(path, 0644, IfExistsFromFlags(*args));
  if (!out) return Report(out.error());
  const std::string text = ProtocolSkeleton(a);
  if (auto w = out->sink().Write(AsBytes(text)); !w) return Report(w.error());
  if (auto c = out->Commit(); !c) return Report(c.error());
  if (path != "-") {
    Notice("wrote " + path + ": fill in every TODO, then `xgw protocol check " + path + "`");
  }
  return kExitOk;
}

// `xgw protocol check FILE`: every problem with its path and a hint, offline.
int RunProtocolCheck(std::span<char* const> argv) {
  auto args = ParseArgs(argv, kCheckFlags);
  if (!args) return UsageError(args.error().message, kProtocolUsage);
  if (args->Has("help")) return ShowHelp(kProtocolUsage);
  if (args->positional.size() != 1) return UsageError("protocol check needs exactly one FILE", kProtocolUsage);
  const std::string& file = args->positional[0];
  auto in = OpenInput(file);
  if (!in) return Report(in.error());
  StringSink text;
  if (auto c = Copy(**in, text); !c) return Report(c.error());
  const auto problems = CheckProtocolDraft(text.str());
  std::string hash;
  if (problems.empty()) {
    if (auto p = ParseProtocol(text.str())) hash = p->version_hash;
  }
  if (args->Has("json")) {
    json items = json::array();
    for (const auto& p : problems) items.push_back({{"path", p.path}, {"reason", p.reason}, {"hint", p.hint}});
    Print(json{{"file", file}, {"problems", items}, {"version_hash", hash.empty() ? json(nullptr) : json(hash)}}
              .dump(2) + "\n");
  } else if (problems.empty()) {
    Print(file + ": no problems; version hash " + hash +
          "\nnext: register every party's organisation with its enterprise number, then `xgw protocol propose " +
          file + "`\n");
  } else {
    std::string t = file + ": " + std::to_string(problems.size()) + " problem(s)\n";
    for (const auto& p : problems) t += "  " + p.path + ": " + p.reason + "\n      what to do: " + p.hint + "\n";
    Print(t);
  }
  return problems.empty() ? kExitOk : kExitFailure;
}

int RunProtocol(std::span<char* const> argv) {
  if (!argv.empty() && std::string_view(argv[0]) == "show") return RunProtocolShow(argv.subspan(1));
  // `new` and `check` have flags of their own; also when --help comes first
  // (`xgw protocol --help new -o FILE`), so that their flags are accepted.
  size_t sub_at = 0;
  while (sub_at < argv.size() && (std::string_view(argv[sub_at]) == "--help" || std::string_view(argv[sub_at]) == "-h"))
    ++sub_at;
  if (sub_at < argv.size() && (std::string_view(argv[sub_at]) == "new" || std::string_view(argv[sub_at]) == "check")) {
    std::vector<char*> rest(argv.begin(), argv.begin() + static_cast<std::ptrdiff_t>(sub_at));
    rest.insert(rest.end(), argv.begin() + static_cast<std::ptrdiff_t>(sub_at) + 1, argv.end());
    return std::string_view(argv[sub_at]) == "new" ? RunProtocolNew(rest) : RunProtocolCheck(rest);
  }
  AdminRun run;
  if (auto stop = Start(argv, kProtocolUsage, &run)) return *stop;
  const auto& a = run.args;
  const std::string& sub = a.positional[0];
  if (a.positional.size() != 2) return UsageError("give exactly one argument after " + sub, kProtocolUsage);
  const std::string& arg = a.positional[1];
  if (sub == "diff") {
    XGW_CONNECT(run);
    auto r = run.gw->Json("GET", "/api/v1/protocols/" + UrlEncode(arg) + "/diff");
    if (!r) return Report(r.error(), "a diff exists only while a changed version waits for acceptance");
    return Show(run, *r, DescribeDiff(*r));
  }
  if (sub == "propose") {
    auto in = OpenInput(arg);
    if (!in) return Report(in.error());
    StringSink text;
    if (auto c = Copy(**in, text); !c) return Report(c.error());
    // Comments, as `xgw protocol new` writes them, are dropped here: they are
    // no part of the protocol (nor of its version hash).
    json doc = json::parse(text.str(), nullptr, false, true);
    if (doc.is_discarded()) {
      return Report(Error{ErrorCode::kFormat, arg + " is not JSON"}, "`xgw protocol check " + arg + "` says where");
    }
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/protocols", doc);
    if (!r) {
      const json& p = run.gw->last_problem();
      if (p.is_object())
        for (const char* k : {"problems", "errors", "violations"})
          if (p.contains(k) && p[k].is_array())
            for (const auto& e : p[k]) Notice("  - " + Str(e, "path") + " " + (Str(e, "reason").empty() ? e.dump() : Str(e, "reason")));
      return Report(r.error(), "fix the protocol file (docs/protocol-format.md) and propose it again");
    }
    return Show(run, *r, "proposed protocol " + Str(*r, "id") + " version " + Str(*r, "version_hash") +
                             "\nnext: every party accepts it (`xgw protocol accept " + Str(*r, "id") + " --org PARTY`)\n");
  }
  if (sub == "accept") {
    if (!a.Has("org")) return UsageError("protocol accept needs --org (the party accepting)", kProtocolUsage);
    XGW_CONNECT(run);
    auto p = FetchProtocol(*run.gw, arg);
    if (!p) return Report(p.error());
    // A pending amendment is what there is to accept; otherwise the version shown.
    std::string hash = p->protocol.version_hash;
    if (auto it = p->answer.find("pending_version"); it != p->answer.end() && it->is_object()) {
      hash = Str(*it, "version_hash");
    }
    json body = {{"version_hash", hash}, {"organisation", *a.Last("org")}};
    auto r = run.gw->Json("POST", "/api/v1/protocols/" + UrlEncode(arg) + "/accept", body);
    if (!r) return Report(r.error());
    return Show(run, *r, "recorded the acceptance of " + arg + " (version " + hash.substr(0, 12) +
                             "...) by " + *a.Last("org") + "; state: " + Str(*r, "state") + "\n");
  }
  if (sub == "activate" || sub == "suspend" || sub == "terminate") {
    XGW_CONNECT(run);
    auto r = run.gw->Json("POST", "/api/v1/protocols/" + UrlEncode(arg) + "/" + sub, json::object());
    if (!r) return Report(r.error());
    return Show(run, *r, "protocol " + arg + " is now " + Str(*r, "state") + "\n");
  }
  return UsageError("unknown protocol subcommand \"" + sub + "\"", kProtocolUsage);
}

int RunClock(std::span<char* const> argv) {
  AdminRun run;
  if (auto stop = Start(argv, kClockUsage, &run)) return *stop;
  const auto& a = run.args;
  if (a.positional[0] != "advance" || a.positional.size() != 2) return UsageError("expected: advance DURATION", kClockUsage);
  auto s = ParseDurationSeconds(a.positional[1]);
  if (!s || *s <= 0) return UsageError("DURATION must be like 90s, 15m, 12h, 3d, 2w or P30D", kClockUsage);
  XGW_CONNECT(run);
  auto r = run.gw->Json("POST", "/api/v1/admin/clock", json{{"advance_seconds", *s}});
  if (!r) return Report(r.error(), "the test clock exists only when the gateway runs with \"clock\": {\"mode\": \"manual\"}");
  return Show(run, *r, "advanced the gateway's test clock by " + std::to_string(*s) + " seconds" +
                           (Str(*r, "now").empty() ? "" : "; it is now " + Str(*r, "now")) + "\n");
}

}  // namespace xgw::cli

// xgw audit ...: what a data protection officer needs. The gateway is not
// trusted for the log's integrity: checkpoints, proofs and receipts are
// verified here with the gateway's verifier key pinned at first use.
#include <algorithm>
#include <cstdio>

#include "client/commands.h"
#include "client/session.h"
#include "crypto/hash.h"
#include "crypto/signed_note.h"
#include "gateway/audit/checkpoint.h"
#include "gateway/audit/verify.h"
#include "policy/manifest.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kAuditUsage =
    "xgw audit events [--exchange ID] [--protocol ID] [--user ID] [--organisation ID] [--action NAME]\n"
    "                 [--since TIME] [--until TIME] [--after N] [--limit N] [--json]\n"
    "       xgw audit verify [--json]\n"
    "       xgw audit receipt EXCHANGE_ID [-o FILE [--force]] [--json]\n"
    "       xgw audit subject (--rrn NUMBER | --bsn NUMBER) [--subject-key FILE] [--json]";

// The verifier key: pinned in the state file at first use.
Result<std::string> PinnedVerifierKey(Gateway& gw, const std::string& config_path, ClientState* state,
                                      bool* first_use) {
  *first_use = false;
  if (!state->audit_verifier_key.empty()) return state->audit_verifier_key;
  XGW_TRY(HttpResponse r, gw.Call("GET", "/api/v1/audit/verifier-key"));
  if (r.status != 200) return tl::unexpected(ProblemToError(r.status, json::parse(r.body, nullptr, false)));
  std::string key = r.body;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) key = Str(j, "verifier_key").empty() ? Str(j, "key") : Str(j, "verifier_key");
  else if (j.is_string()) key = j.get<std::string>();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  XGW_CHECK(ParseVerifierKey(key));
  state->audit_verifier_key = key;
  XGW_CHECK(SaveState(config_path, *state));
  *first_use = true;
  return key;
}

Result<std::vector<MerkleHash>> ParseProof(const json& answer) {
  json list = answer;
  if (answer.is_object()) {
    for (const char* k : {"proof", "consistency_proof", "hashes", "inclusion_proof"})
      if (answer.contains(k)) list = answer[k];
  }
  if (!list.is_array()) return Fail(ErrorCode::kFormat, "the gateway's proof is not a list of hashes");
  std::vector<MerkleHash> out;
  for (const auto& h : list) {
    if (!h.is_string()) return Fail(ErrorCode::kFormat, "a proof hash is not a string");
    std::string s = h.get<std::string>();
    auto raw = s.size() == 64 ? HexDecode(s) : Base64Decode(s);
    if (!raw || raw->size() != 32) return Fail(ErrorCode::kFormat, "a proof hash is not 32 bytes");
    MerkleHash m{};
    std::copy(raw->begin(), raw->end(), m.begin());
    out.push_back(m);
  }
  return out;
}

int AuditEvents(const Args& args, Gateway& gw) {
  std::string q;
  for (const char* k : {"exchange", "protocol", "user", "organisation", "action", "since", "until", "after", "limit"})
    if (auto v = args.Last(k)) q += (q.empty() ? "?" : "&") + std::string(k) + "=" + UrlEncode(*v);
  auto r = gw.Json("GET", "/api/v1/audit/events" + q);
  if (!r) return Report(r.error());
  json items = Items(*r);
  if (args.Has("json")) {
    Print(r->is_array() ? items.dump(2) + "\n" : r->dump(2) + "\n");
    return kExitOk;
  }
  if (items.empty()) {
    Print("No events match.\n");
    return kExitOk;
  }
  for (const auto& item : items) {
    // Each item is {index, event} or the event itself.
    const json& e = item.contains("event") && item["event"].is_object() ? item["event"] : item;
    std::string actor = e.contains("actor") && e["actor"].is_object() ? Str(e["actor"], "id") : Str(e, "actor");
    std::string line = Str(item, "index") + "  " + Str(e, "time") + "  " + Str(e, "action") + "  " +
                       Str(e, "outcome") + "  by " + (actor.empty() ? "-" : actor);
    if (e.contains("protocol") && e["protocol"].is_object()) line += "  protocol=" + Str(e["protocol"], "id");
    for (const char* k : {"exchange", "user", "token", "reason"})
      if (!Str(e, k).empty()) line += "  " + std::string(k) + "=" + Str(e, k);
    Print(line + "\n");
  }
  // One page per call: say how to get the next one.
  if (r->is_object() && r->contains("next") && (*r)["next"].is_number_unsigned()) {
    Print("More events match: run the same command with --after " + std::to_string((*r)["next"].get<uint64_t>()) +
          "\n");
  }
  return kExitOk;
}

int AuditVerify(const Args& args, Gateway& gw, const std::string& config_path) {
  auto state = LoadState(config_path);
  if (!state) return Report(state.error());
  bool first_use = false;
  auto key = PinnedVerifierKey(gw, config_path, &*state, &first_use);
  if (!key) return Report(key.error());
  if (first_use)
    Notice("xgw: pinned the gateway's audit key at first use:\n  " + *key +
           "\nxgw: compare it with the key your operator published; later checks use this pinned key");
  auto verifier = ParseVerifierKey(*key);
  if (!verifier) return Report(verifier.error());
  // Ask for a fresh checkpoint covering everything logged so far; fall back
  // to the latest one if this gateway does not sign on request.
  auto note = gw.Call("POST", "/api/v1/audit/checkpoint");
  if (note && note->status != 200) note = gw.Call("GET", "/api/v1/audit/checkpoint");
  if (!note) return Report(note.error());
  if (note->status != 200) return Report(ProblemToError(note->status, json::parse(note->body, nullptr, false)));
  auto latest = OpenCheckpoint(note->body, *verifier);
  if (!latest) return Report(latest.error(), "the checkpoint is not signed by the pinned audit key: do not trust this gateway's log; tell your operator");
  std::string result;
  if (!state->audit_checkpoint.empty()) {
    auto old = OpenCheckpoint(state->audit_checkpoint, *verifier);
    if (!old) return Report(old.error(), "the remembered checkpoint is damaged; remove the state file to start over");
    if (latest->size < old->size)
      return Report(Error{ErrorCode::kCorrupt, "the audit log is SHORTER than when you last checked (" +
                                                   std::to_string(old->size) + " -> " + std::to_string(latest->size) +
                                                   " events): it was rolled back"},
                    "report this to your operator and supervisory authority; keep the state file as evidence");
    if (latest->size == old->size) {
      if (latest->root != old->root)
        return Report(Error{ErrorCode::kCorrupt, "the audit log was rewritten: same size, different content (forked)"},
                      "report this to your operator and supervisory authority; keep the state file as evidence");
    } else {
      auto proof = gw.Json("GET", "/api/v1/audit/proofs/consistency?first=" + std::to_string(old->size) +
                                      "&second=" + std::to_string(latest->size));
      if (!proof) return Report(proof.error());
      auto hashes = ParseProof(*proof);
      if (!hashes) return Report(hashes.error());
      if (auto v = VerifyConsistency(state->audit_checkpoint, note->body, *hashes, *key); !v)
        return Report(Error{ErrorCode::kCorrupt, "the audit log is NOT an extension of the one you checked before "
                                                 "(consistency proof fails): it was rewritten or forked"},
                      "report this to your operator and supervisory authority; keep the state file as evidence");
    }
    result = "the log grew from " + std::to_string(old->size) + " to " + std::to_string(latest->size) +
             " events and nothing earlier was changed";
  } else {
    result = "first check: remembered the log at " + std::to_string(latest->size) + " events";
  }
  state->audit_checkpoint = note->body;
  if (auto s = SaveState(config_path, *state); !s) return Report(s.error());
  if (args.Has("json")) {
    Print(json{{"ok", true}, {"tree_size", latest->size}, {"root", Base64Encode(latest->root)}, {"summary", result}}.dump(2) + "\n");
    return kExitOk;
  }
  Print("audit log verified: " + result + ".\n");
  return kExitOk;
}

int AuditReceipt(const Args& args, Gateway& gw, const std::string& config_path) {
  if (args.positional.size() != 2) return UsageError("give exactly one exchange id", kAuditUsage);
  auto state = LoadState(config_path);
  if (!state) return Report(state.error());
  bool first_use = false;
  auto key = PinnedVerifierKey(gw, config_path, &*state, &first_use);
  if (!key) return Report(key.error());
  auto r = gw.Call("GET", "/api/v1/exchanges/" + UrlEncode(args.positional[1]) + "/receipt");
  if (!r) return Report(r.error());
  if (r->status != 200) return Report(ProblemToError(r->status, json::parse(r->body, nullptr, false)),
                                      "a receipt exists only once the list has been deleted");
  auto info = VerifyDeletionReceipt(r->body, *key);
  if (!info) return Report(info.error(), "the receipt does not verify with the pinned audit key: do not rely on it");
  if (auto o = args.Last("output")) {
    auto out = Output::Open(*o, 0644, IfExistsFromFlags(args));
    if (!out) return Report(out.error());
    if (auto w = out->sink().Write(AsBytes(r->body)); !w) return Report(w.error());
    if (auto c = out->Commit(); !c) return Report(c.error());
  }
  const AuditEvent& e = info->event;
  if (args.Has("json")) {
    Print(json{{"verified", true}, {"exchange_id", e.exchange_id}, {"action", AuditActionName(e.action)},
               {"time", FormatAuditTime(e.time_ms)}, {"index", info->index}, {"tree_size", info->tree_size}}
              .dump(2) + "\n");
    return kExitOk;
  }
  Print("Deletion receipt VERIFIED (signed by the gateway's audit key):\n  exchange " + e.exchange_id +
        (e.protocol_id.empty() ? "" : " under protocol " + e.protocol_id) + "\n  deleted at " +
        FormatAuditTime(e.time_ms) + " (" + std::string(AuditActionName(e.action)) + ")\n  entry " +
        std::to_string(info->index) + " of an audit log of " + std::to_string(info->tree_size) + " entries\n");
  return kExitOk;
}

int AuditSubject(const Args& args, Gateway& gw, const ClientConfig& cfg) {
  bool rrn = args.Has("rrn"), bsn = args.Has("bsn");
  if (rrn == bsn) return UsageError("give exactly one of --rrn or --bsn", kAuditUsage);
  auto key = LoadSubjectKey(args, cfg);
  if (!key) return Report(key.error());
  if (!*key)
    return Report(Error{ErrorCode::kKey, "no subject-index key configured"},
                  "give --subject-key FILE (the organisation key your operator handed out) or set it with `xgw login --subject-key FILE`");
  std::string raw = *args.Last(rrn ? "rrn" : "bsn");
  auto value = SubjectLookupValue((*key)->span(), rrn ? FieldType::kBeNationalNumber : FieldType::kNlBsn, raw);
  WipeMemory(raw.data(), raw.size());
  if (!value) return Report(value.error(), "check the number (11 digits for a national number, 9 for a BSN)");
  auto r = gw.Json("GET", "/api/v1/subject-index/" + *value);
  if (!r) return Report(r.error());
  json items = Items(*r);
  if (PrintedAsJsonOrNone(args, items,
                          "No stored list mentions this person (only lists sent with your organisation's key are "
                          "searchable).")) {
    return kExitOk;
  }
  Print("Lists that mention this person:\n");
  for (const auto& e : items)
    Print("  " + Str(e, "id") + "  protocol " + Str(e, "protocol_id") + "  from " + Str(e, "sender_org") + "  " +
          Str(e, "state") + "  sent " + Str(e, "created_at") + "  deleted by " + Str(e, "expires_at") + "\n");
  Print("(The number itself was never sent to the gateway, only its keyed fingerprint.)\n");
  return kExitOk;
}

}  // namespace

int RunAudit(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "exchange", true}, {0, "protocol", true}, {0, "user", true},  {0, "organisation", true},
      {0, "action", true},   {0, "since", true},    {0, "until", true}, {0, "after", true},
      {0, "limit", true},    {'o', "output", true}, {0, "rrn", true},   {0, "bsn", true}, {0, "force", false},
      {0, "subject-key", true}, kConfigFlag, kJsonFlag, kHelpFlag,
  };
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kAuditUsage);
  if (args->Has("help") || args->positional.empty()) {
    if (args->Has("help")) return ShowHelp(kAuditUsage);
    return UsageError("missing subcommand", kAuditUsage);
  }
  const std::string sub = args->positional[0];
  if (sub != "events" && sub != "verify" && sub != "receipt" && sub != "subject")
    return UsageError("unknown audit subcommand \"" + sub + "\"", kAuditUsage);
  if (sub != "receipt" && args->positional.size() != 1) return UsageError("unexpected argument", kAuditUsage);
  std::string config_path = ConfigPath(args->Last("config").value_or(""));
  auto cfg = LoadClientConfig(*args);
  if (!cfg) return Report(cfg.error());
  Gateway gw(*cfg);
  if (sub == "events") return AuditEvents(*args, gw);
  if (sub == "verify") return AuditVerify(*args, gw, config_path);
  if (sub == "receipt") return AuditReceipt(*args, gw, config_path);
  return AuditSubject(*args, gw, *cfg);
}

}  // namespace xgw::cli

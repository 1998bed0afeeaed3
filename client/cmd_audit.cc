// xgw audit ...: what a data protection officer needs. The gateway is not
// trusted for the log's integrity: checkpoints, proofs and receipts are
// verified here with the gateway's verifier key pinned at first use, and
// every event shown is proven (inclusion proof) to be in the log under a
// checkpoint verified first; `verify --full` recomputes the whole tree.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "client/commands.h"
#include "client/session.h"
#include "crypto/hash.h"
#include "crypto/signed_note.h"
#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "policy/manifest.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kAuditUsage =
    "xgw audit events [--exchange ID] [--protocol ID] [--user ID] [--organisation ID] [--action NAME]\n"
    "                 [--since TIME] [--until TIME] [--after N] [--limit N] [--json]\n"
    "       xgw audit verify [--full] [--json]\n"
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

// A failure of the log itself (not of the network or the request): the
// gateway's answer contradicts what its signed checkpoints commit to.
// Exit 6, like a received list that fails verification (docs/cli.md).
constexpr std::string_view kEvidenceHint =
    "do not rely on this gateway's audit log; report this to your operator and supervisory authority, and keep "
    "the state file as evidence";

// `what`: "at index N: ..." or a sentence about the whole log.
int LogFailed(const std::string& what) {
  const std::string sep = what.starts_with("at index ") ? " " : ": ";
  Report(Error{ErrorCode::kCorrupt, "the audit log failed verification" + sep + what}, kEvidenceHint);
  return kExitRejected;
}

// The tree head a command proves events against: a checkpoint signed by the
// pinned key and, if one was remembered, consistent with it (the log only
// grew). Remembered in the state file for the next check.
struct VerifiedHead {
  Checkpoint checkpoint;
  bool fresh = true;    // signed on request; false: the gateway's latest stored one
  std::string summary;  // what the check showed, for people
};

// Returns kExitOk with *out set, or the exit code of the reported failure.
int VerifyHead(Gateway& gw, const std::string& config_path, VerifiedHead* out) {
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
  out->fresh = note && note->status == 200;
  if (note && note->status != 200) note = gw.Call("GET", "/api/v1/audit/checkpoint");
  if (!note) return Report(note.error());
  if (note->status != 200) return Report(ProblemToError(note->status, json::parse(note->body, nullptr, false)));
  auto latest = OpenCheckpoint(note->body, *verifier);
  if (!latest) return Report(latest.error(), "the checkpoint is not signed by the pinned audit key: do not trust this gateway's log; tell your operator");
  if (!state->audit_checkpoint.empty()) {
    auto old = OpenCheckpoint(state->audit_checkpoint, *verifier);
    if (!old) return Report(old.error(), "the remembered checkpoint is damaged; remove the state file to start over");
    if (latest->size < old->size)
      return LogFailed("it is SHORTER than when you last checked (" + std::to_string(old->size) + " -> " +
                       std::to_string(latest->size) + " events): it was rolled back");
    if (latest->size == old->size) {
      if (latest->root != old->root)
        return LogFailed("it was rewritten: same size as when you last checked, different content (forked)");
    } else {
      auto proof = gw.Json("GET", "/api/v1/audit/proofs/consistency?first=" + std::to_string(old->size) +
                                      "&second=" + std::to_string(latest->size));
      if (!proof) return Report(proof.error());
      auto hashes = ParseProof(*proof);
      if (!hashes) return Report(hashes.error());
      if (auto v = VerifyConsistency(state->audit_checkpoint, note->body, *hashes, *key); !v)
        return LogFailed("it is NOT an extension of the one you checked before (consistency proof fails): it "
                         "was rewritten or forked");
    }
    out->summary = "the log grew from " + std::to_string(old->size) + " to " + std::to_string(latest->size) +
                   " events and nothing earlier was changed";
  } else {
    out->summary = "first check: remembered the log at " + std::to_string(latest->size) + " events";
  }
  // The log only grew since the remembered head (checked above): the newer
  // one is what the next check compares with.
  state->audit_checkpoint = note->body;
  if (auto s = SaveState(config_path, *state); !s) return Report(s.error());
  out->checkpoint = std::move(*latest);
  return kExitOk;
}

std::optional<std::vector<uint8_t>> Base64Member(const json& item, const char* key) {
  if (!item.contains(key) || !item[key].is_string()) return std::nullopt;
  return Base64Decode(item[key].get<std::string>());
}

// One item of GET /audit/events?tree_size=N: {index, leaf_data, inclusion_proof}.
struct ProvenEvent {
  uint64_t index = 0;
  std::string bytes;  // exactly what the log hashed
  AuditEvent event;   // parsed from `bytes`
};

// Proves that the item's bytes are the leaf at its index of the checkpoint's
// tree and parses them. The error names the index, never the contents.
Result<ProvenEvent> ProveEvent(const json& item, const Checkpoint& cp) {
  if (!item.is_object() || !item.contains("index") || !item["index"].is_number_unsigned())
    return Fail(ErrorCode::kCorrupt, "the gateway's answer lists an event without an index");
  ProvenEvent out;
  out.index = item["index"].get<uint64_t>();
  const std::string at = "at index " + std::to_string(out.index) + ": ";
  if (out.index >= cp.size)
    return Fail(ErrorCode::kCorrupt, at + "the event lies outside the signed checkpoint of " +
                                         std::to_string(cp.size) + " events");
  auto bytes = Base64Member(item, "leaf_data");
  if (!bytes) return Fail(ErrorCode::kCorrupt, at + "the gateway sent no event bytes");
  out.bytes.assign(bytes->begin(), bytes->end());
  if (!item.contains("inclusion_proof") || !item["inclusion_proof"].is_array())
    return Fail(ErrorCode::kCorrupt, at + "the gateway could not prove the event is in the log");
  auto proof = ParseProof(item["inclusion_proof"]);
  if (!proof) return Fail(ErrorCode::kCorrupt, at + "the gateway's inclusion proof is malformed");
  if (!VerifyMerkleInclusion(out.index, cp.size, MerkleLeafHash(out.bytes), *proof, cp.root))
    return Fail(ErrorCode::kCorrupt, at + "the event shown is not the one the signed log holds there (edited, "
                                         "moved or removed)");
  auto event = ParseAuditEvent(out.bytes);
  if (!event) return Fail(ErrorCode::kCorrupt, at + "the logged bytes are not a valid audit event");
  out.event = std::move(*event);
  return out;
}

// One page of events matching `query` ("k=v&..." or ""), after `after`, each
// proven against `cp`. Returns an exit code on failure (reported).
struct ProvenPage {
  std::vector<ProvenEvent> events;
  std::optional<uint64_t> next;
  // id → display name, as the gateway reads them now: shown beside the ids,
  // not part of what the proofs cover.
  json names = json::object();
};
int FetchProvenPage(Gateway& gw, const std::string& query, const Checkpoint& cp, ProvenPage* page) {
  auto r = gw.Json("GET", "/api/v1/audit/events?" + query + (query.empty() ? "" : "&") +
                              "tree_size=" + std::to_string(cp.size));
  if (!r) return Report(r.error());
  const json items = Items(*r);
  std::optional<uint64_t> previous;
  for (const auto& item : items) {
    auto e = ProveEvent(item, cp);
    if (!e) return LogFailed(e.error().message);
    if (previous && e->index <= *previous)
      return LogFailed("at index " + std::to_string(e->index) + ": the gateway listed it out of order or twice");
    previous = e->index;
    page->events.push_back(std::move(*e));
  }
  if (r->is_object() && r->contains("next") && (*r)["next"].is_number_unsigned())
    page->next = (*r)["next"].get<uint64_t>();
  if (r->is_object() && r->contains("names") && (*r)["names"].is_object()) page->names = (*r)["names"];
  return kExitOk;
}

// "Name (Organisation)" for a person, "Name" for an organisation; the id
// when the gateway gave no name.
std::string Named(const json& names, const std::string& id, const std::string& org = "") {
  const std::string name = Str(names, id);
  if (name.empty()) return id;
  const std::string org_name = org.empty() ? "" : Str(names, org);
  return org_name.empty() ? name : name + " (" + org_name + ")";
}

std::string EventLine(const ProvenEvent& p, const json& names) {
  const AuditEvent& e = p.event;
  std::string line = std::to_string(p.index) + "  " + LocalTime(FormatAuditTime(e.time_ms)) + "  " +
                     std::string(AuditActionName(e.action)) + "  " + std::string(AuditOutcomeName(e.outcome)) +
                     "  by " + (e.actor.id.empty() ? "-" : Named(names, e.actor.id, e.actor.org));
  if (!e.protocol_id.empty()) line += "  protocol=" + e.protocol_id;
  if (!e.exchange_id.empty()) line += "  exchange=" + e.exchange_id;
  if (!e.user_id.empty()) line += "  user=" + Named(names, e.user_id);
  for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"token", &e.token_id}, {"reason", &e.reason}})
    if (!v->empty()) line += "  " + std::string(k) + "=" + *v;
  return line;
}

// Every event shown is proven to be in the log under a checkpoint verified
// first (signature + consistency with the remembered one); nothing is shown
// unless the whole page verifies, and what is shown is parsed from the
// proven bytes.
int AuditEvents(const Args& args, Gateway& gw, const std::string& config_path) {
  std::string q;
  for (const char* k : {"exchange", "protocol", "user", "organisation", "action", "since", "until", "after", "limit"})
    if (auto v = args.Last(k)) q += (q.empty() ? "" : "&") + std::string(k) + "=" + UrlEncode(*v);
  VerifiedHead head;
  if (int rc = VerifyHead(gw, config_path, &head); rc != kExitOk) return rc;
  ProvenPage page;
  if (int rc = FetchProvenPage(gw, q, head.checkpoint, &page); rc != kExitOk) return rc;
  if (!head.fresh)
    Notice("xgw: the gateway did not sign a fresh checkpoint: only events among its first " +
           std::to_string(head.checkpoint.size) + " (its latest signed checkpoint) are shown");
  if (args.Has("json")) {
    json items = json::array();
    for (const auto& p : page.events)
      items.push_back({{"index", p.index}, {"event", json::parse(p.bytes, nullptr, false)}});
    Print(json{{"items", items},
               {"next", page.next ? json(*page.next) : json(nullptr)},
               {"names", page.names},
               {"checkpoint", {{"tree_size", head.checkpoint.size}, {"root", Base64Encode(head.checkpoint.root)}}}}
              .dump(2) + "\n");
    return kExitOk;
  }
  if (page.events.empty()) {
    Print("No events match.\n");
    return kExitOk;
  }
  for (const auto& p : page.events) Print(EventLine(p, page.names) + "\n");
  Print("(each event above is proven to be in the audit log under a checkpoint of " +
        std::to_string(head.checkpoint.size) + " events signed by the pinned key)\n");
  // One page per call: say how to get the next one.
  if (page.next)
    Print("More events match: run the same command with --after " + std::to_string(*page.next) + "\n");
  return kExitOk;
}

struct FullCheck {
  uint64_t events = 0;
  uint64_t read_in_full = 0;  // events whose bytes the caller may see
};

// Recomputes the tree head of the checkpoint from all its leaves: the bytes
// of every event the caller may see, the leaf hash of every other one.
// Constant memory (the right edge of the tree). Returns an exit code.
int RecomputeTree(Gateway& gw, const Checkpoint& cp, FullCheck* out) {
  constexpr uint64_t kPage = 10000;
  MerkleFrontier frontier;
  uint64_t expected = 0;
  while (expected < cp.size) {
    auto r = gw.Json("GET", "/api/v1/audit/leaves?start=" + std::to_string(expected) +
                                "&tree_size=" + std::to_string(cp.size) + "&limit=" + std::to_string(kPage));
    if (!r) return Report(r.error());
    const json items = Items(*r);
    if (items.empty()) return LogFailed("at index " + std::to_string(expected) + ": the gateway holds no event there (removed)");
    for (const auto& item : items) {
      if (expected >= cp.size) break;
      if (!item.is_object() || !item.contains("index") || !item["index"].is_number_unsigned())
        return LogFailed("at index " + std::to_string(expected) + ": the gateway's answer is malformed");
      const uint64_t index = item["index"].get<uint64_t>();
      const std::string at = "at index " + std::to_string(expected) + ": ";
      if (index > expected) return LogFailed(at + "the gateway holds no event there (removed)");
      if (index < expected) return LogFailed(at + "the gateway listed an event out of order or twice");
      MerkleHash leaf{};
      if (auto data = Base64Member(item, "leaf_data")) {
        const std::string bytes(data->begin(), data->end());
        if (!ParseAuditEvent(bytes)) return LogFailed(at + "the logged bytes are not a valid audit event");
        leaf = MerkleLeafHash(bytes);
        ++out->read_in_full;
      } else if (auto h = Base64Member(item, "leaf_hash"); h && h->size() == leaf.size()) {
        std::copy(h->begin(), h->end(), leaf.begin());
      } else {
        return LogFailed(at + "the gateway sent neither the event nor its leaf hash");
      }
      frontier.Append(leaf, [](unsigned, uint64_t, const MerkleHash&) {});
      ++expected;
    }
  }
  out->events = expected;
  if (frontier.Root() == cp.root) return kExitOk;
  // Name the first event that does not prove, if one the caller may see is
  // the culprit (an edit elsewhere only shows in the root).
  ProvenPage page;
  std::string q = "limit=1000";
  for (;;) {
    page = ProvenPage{};
    if (int rc = FetchProvenPage(gw, q, cp, &page); rc != kExitOk) return rc;
    if (!page.next) break;
    q = "limit=1000&after=" + std::to_string(*page.next);
  }
  return LogFailed("recomputing the tree from its " + std::to_string(cp.size) +
                   " events does not give the root of the signed checkpoint (an event was edited, removed, "
                   "inserted or reordered)");
}

int AuditVerify(const Args& args, Gateway& gw, const std::string& config_path) {
  VerifiedHead head;
  if (int rc = VerifyHead(gw, config_path, &head); rc != kExitOk) return rc;
  const bool full = args.Has("full");
  FullCheck check;
  const auto t0 = std::chrono::steady_clock::now();
  if (full) {
    if (int rc = RecomputeTree(gw, head.checkpoint, &check); rc != kExitOk) return rc;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Checkpoint& cp = head.checkpoint;
  if (args.Has("json")) {
    json j = {{"ok", true}, {"tree_size", cp.size}, {"root", Base64Encode(cp.root)}, {"summary", head.summary},
              {"full", full}};
    if (full) j["recomputed"] = {{"events", check.events}, {"read_in_full", check.read_in_full}, {"seconds", seconds}};
    Print(j.dump(2) + "\n");
    return kExitOk;
  }
  Print("audit log verified: " + head.summary + ".\n");
  if (full) {
    Print("recomputed the tree from all " + std::to_string(check.events) + " events: it matches the signed checkpoint (" +
          std::to_string(check.read_in_full) + " events read in full, the others by their leaf hash).\n");
  } else {
    Print("(the events themselves were not read: `xgw audit verify --full` recomputes the tree from every event)\n");
  }
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

// One list of a subject lookup: where it stands (available until, or
// deleted when and why) and to whom it was disclosed.
void PrintSubjectHit(const json& e) {
  std::string where = Str(e, "state");
  if (!Str(e, "deleted_at").empty()) {
    where += " " + Str(e, "deleted_at") + " (" + Str(e, "deleted_reason") + ")";
  } else if (!Str(e, "expires_at").empty()) {
    where += ", to be deleted by " + Str(e, "expires_at");
  }
  Print("  " + Str(e, "id") + "  protocol " + Str(e, "protocol_id") + "  from " + Str(e, "sender_org") +
        "  sent " + Str(e, "created_at") + "  " + where + "\n");
  const json downloads = e.contains("downloads") && e["downloads"].is_array() ? e["downloads"] : json::array();
  if (downloads.empty()) Print("      never downloaded\n");
  for (const auto& d : downloads) {
    const std::string who = Str(d, "name").empty() ? Str(d, "user") : Str(d, "name") + " (" + Str(d, "user") + ")";
    Print("      downloaded " + Str(d, "time") + " by " + who + " of " + Str(d, "organisation") + "\n");
  }
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
  Print("Lists that mention this person, still stored or deleted within the accountability period:\n");
  for (const auto& e : items) PrintSubjectHit(e);
  Print("(The number itself was never sent to the gateway, only its keyed fingerprint.)\n");
  return kExitOk;
}

}  // namespace

int RunAudit(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {0, "exchange", true}, {0, "protocol", true}, {0, "user", true},  {0, "organisation", true},
      {0, "action", true},   {0, "since", true},    {0, "until", true}, {0, "after", true},
      {0, "limit", true},    {'o', "output", true}, {0, "rrn", true},   {0, "bsn", true}, {0, "force", false},
      {0, "subject-key", true}, {0, "full", false}, kConfigFlag, kJsonFlag, kHelpFlag,
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
  if (sub == "events") return AuditEvents(*args, gw, config_path);
  if (sub == "verify") return AuditVerify(*args, gw, config_path);
  if (sub == "receipt") return AuditReceipt(*args, gw, config_path);
  return AuditSubject(*args, gw, *cfg);
}

}  // namespace xgw::cli

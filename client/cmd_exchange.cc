// xgw protocols / send / inbox / receive / ack / revoke: the work of clerks
// and social workers. Nothing leaves the machine before the local checks
// pass; nothing is written before the received list is verified.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "client/commands.h"
#include "client/exchange_crypto.h"
#include "client/chunked_upload.h"
#include "client/list_check.h"
#include "client/list_copy.h"
#include "client/protocol_view.h"
#include "client/session.h"
#include "crypto/hash.h"
#include "crypto/keyfile.h"
#include "policy/check_list.h"
#include "policy/validators.h"

namespace xgw::cli {

namespace {

using nlohmann::json;

// Encrypted lists up to this size are sent in one request (POST
// /api/v1/exchanges/upload); larger ones are announced first.
constexpr uint64_t kOneRequestMax = 16u << 20;

// A 0600 temporary file, removed when this object dies.
class TempFile {
 public:
  static Result<TempFile> Create() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/xgw-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());  // mode 0600
    if (fd < 0) return tl::unexpected(IoError("create temporary file", pattern, errno));
    TempFile t;
    t.path_ = buf.data();
    t.fd_ = fd;
    return t;
  }
  TempFile() = default;
  TempFile(TempFile&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_) { o.fd_ = -1; o.path_.clear(); }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  uint64_t Size() const {
    struct stat st {};
    return ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Passes bytes through while hashing them, so that the file encrypted is
// proved to be the file that was checked.
class HashingSource final : public ByteSource {
 public:
  explicit HashingSource(ByteSource& in) : in_(in) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    XGW_TRY(size_t n, in_.Read(buf));
    hash_.Update(buf.first(n));
    size_ += n;
    return n;
  }
  std::string HexDigest() { return HexEncode(hash_.Finish()); }
  uint64_t size() const { return size_; }

 private:
  ByteSource& in_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

void PrintViolations(const Violations& vs, uint64_t suppressed) {
  for (const auto& v : vs) Notice("  - " + ExplainViolation(v));
  if (suppressed != 0) Notice("  ... and " + std::to_string(suppressed) + " more row problems of the same kinds");
}

// Violations a gateway refusal lists (objects or bare codes).
Violations ViolationsOfProblem(const json& problem) {
  Violations out;
  if (!problem.is_object()) return out;
  auto it = problem.find("violations");
  if (it == problem.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    Violation x;
    if (v.is_string()) {
      x.code = v.get<std::string>();
    } else if (v.is_object()) {
      x.code = Str(v, "code");
      x.message = Str(v, "message");
      x.column = Str(v, "column");
      if (v.contains("row") && v["row"].is_number_unsigned()) x.row = v["row"].get<uint64_t>();
    }
    out.push_back(std::move(x));
  }
  return out;
}

// The protocol party of my organisation: from the gateway's party map, else
// by enterprise number.
std::string MyParty(Gateway& gw, const FetchedProtocol& fetched) {
  const Protocol& p = fetched.protocol;
  if (gw.config().organisation_id.empty()) return "";
  if (auto it = fetched.answer.find("parties"); it != fetched.answer.end() && it->is_array())
    for (const auto& m : *it)
      if (Str(m, "organisation") == gw.config().organisation_id && !Str(m, "party").empty()) return Str(m, "party");
  auto org = gw.Json("GET", "/api/v1/orgs/" + UrlEncode(gw.config().organisation_id));
  if (!org) return "";
  std::string en = Str(*org, "enterprise_number");
  auto norm = NormaliseBeEnterpriseNumber(en);
  std::string mine = norm ? *norm : en;
  for (const auto& party : p.parties)
    if (!mine.empty() && party.enterprise_number == mine) return party.id;
  return "";
}

std::string FormatRows(const json& e) {
  std::string rows = Str(e, "rows");
  return rows.empty() ? "?" : rows;
}

}  // namespace

int RunProtocols(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {kConfigFlag, kJsonFlag, kHelpFlag};
  const CommandSpec spec{kFlags, "xgw protocols [--json]",
                         "Lists the protocols under which you may send or receive lists."};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    auto r = gw.Json("GET", "/api/v1/protocols");
    if (!r) return Report(r.error());
    json items = Items(*r);
    if (PrintedAsJsonOrNone(args, items, "No protocols concern your organisation yet.")) return kExitOk;
    for (const auto& p : items) {
      // What this person may do (not only their organisation), and why not.
      const std::string may = Str(p, "you_may"), why = Str(p, "you_may_why");
      std::string what = may == "send" ? "you may send" : may == "receive" ? "you may receive"
                         : may == "both" ? "you may send and receive" : may == "nothing" ? "" : may;
      if (!why.empty()) what += (what.empty() ? "" : "; ") + why;
      Print(Str(p, "id") + "  [" + Str(p, "state") + "]  " + Str(p, "title") + (what.empty() ? "" : "  (" + what + ")") + "\n");
    }
    Print("\nRun `xgw protocol show ID` for what a protocol allows.\n");
    return kExitOk;
  });
}

int RunProtocolShow(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {kConfigFlag, kJsonFlag, kHelpFlag};
  const CommandSpec spec{kFlags, "xgw protocol show ID [--json]",
                         "Explains a protocol: columns, recipients, retention, validity.", 1,
                         "give exactly one protocol id"};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    auto p = FetchProtocol(gw, args.positional[0]);
    if (!p) return Report(p.error());
    if (args.Has("json")) {
      Print(p->answer.dump(2) + "\n");
      return kExitOk;
    }
    Print(DescribeProtocol(p->protocol, p->answer));
    return kExitOk;
  });
}

namespace {

// Step 1 of `xgw send`: the local check of `path` (its sheet and header row
// as `search` says), with every reason it may not be sent.
Result<ListCheck> CheckLocally(const FetchedProtocol& fetched, const std::string& path, const std::string& sheet,
                               const HeaderSearch& search, const SendRequest& request, const CheckListOptions& base) {
  XGW_TRY(OpenList list, OpenListFile(path, sheet));
  CheckListOptions opts = base;
  opts.header = search;
  XGW_TRY(ListCheck check, CheckListForSend(fetched.protocol, fetched.status, *list.reader, request, opts));
  if (fetched.valid_now) {
    // Time rules are the gateway's to judge with its clock (it re-checks on upload).
    std::erase_if(check.violations, [](const Violation& v) { return v.code == "retention_already_passed"; });
  }
  return check;
}

// Where the header was found, when it is not simply the first row.
void NoteHeader(const HeaderMatch& h) {
  if (h.title_rows.empty()) return;
  std::string rows;
  for (uint64_t r : h.title_rows) rows += (rows.empty() ? "" : ", ") + std::to_string(r);
  Notice("xgw: the header is row " + std::to_string(h.header_row) + (h.sheet.empty() ? "" : " of sheet \"" + h.sheet + "\"") +
         "; row(s) " + rows + " above it are taken as titles, not as data");
}

// The list `xgw send` sends: which file, sheet and header row, and its
// local check.
struct ListToSend {
  std::string path;
  std::string sheet;
  HeaderSearch search;
  ListCheck check;
};

// Step 1 of `xgw send` (after CheckLocally): the receiver checks the file as
// sent with the defaults (first sheet, header found by itself), so a named
// header row or another sheet is sent as a copy whose header is its first
// row, as with --drop-extra. Writes that copy, checks it and makes it `list`;
// an exit code if that fails.
std::optional<int> UseCleanedCopy(const Args& args, const FetchedProtocol& fetched, const SendRequest& request,
                                  const CheckListOptions& opts, ListToSend& list) {
  const Protocol& protocol = fetched.protocol;
  const ListCheck& check = list.check;
  const bool other_sheet = !list.sheet.empty() && !check.header.sheets.empty() && check.header.sheets[0] != list.sheet;
  if (!args.Has("drop-extra") && list.search.header_row == 0 && !other_sheet) return std::nullopt;
  const std::vector<size_t> extra = args.Has("drop-extra") ? ExtraColumns(check) : std::vector<size_t>{};
  const bool header_found = std::none_of(check.violations.begin(), check.violations.end(), [](const Violation& v) {
    return v.code == "header_not_found" || v.code == "header_row_not_found" || v.code == "list_malformed" ||
           v.code == "list_limit_exceeded";
  });
  if (args.Has("drop-extra") && extra.empty() && header_found) Notice("xgw: --drop-extra: no column to drop");
  if (!header_found || (extra.empty() && list.search.header_row == 0 && !other_sheet)) return std::nullopt;
  if (!protocol.Accepts(InputFormat::kCsv))
    return Report(Error{ErrorCode::kPolicy, "the protocol accepts only xlsx lists, and xgw writes its cleaned copy as CSV"},
                  "remove the columns named above in Excel (and put the list on the first sheet, header on top), save, and send again");
  auto copy = WriteCleanedCopy(protocol, list.path, list.sheet, list.search, extra);
  if (!copy) return Report(copy.error());
  std::string dropped;
  for (const auto& d : copy->dropped) dropped += (dropped.empty() ? "" : ", ") + d;
  Notice("xgw: wrote " + copy->path + (dropped.empty() ? "" : " without " + dropped) +
         (list.search.header_row != 0 || other_sheet ? " (header on its first row)" : "") + "; " + list.path +
         " is unchanged. The copy is checked" +
         (args.Has("check-only") ? "." : " and sent."));
  list.path = copy->path;
  list.sheet.clear();
  list.search = HeaderSearch{};
  auto again = CheckLocally(fetched, list.path, list.sheet, list.search, request, opts);
  if (!again) return Report(again.error());
  list.check = std::move(*again);
  return std::nullopt;
}

// The end of step 1: a list that fails the check is not sent (kExitPolicy);
// --check-only stops after a list that passes (kExitOk).
std::optional<int> LocalVerdict(const Args& args, const Protocol& protocol, const ListCheck& check, bool have_key) {
  if (!check.ok()) {
    Notice("xgw: the list may not be sent under protocol " + protocol.id + ":");
    PrintViolations(check.violations, check.suppressed);
    Notice("xgw: nothing was sent. Fix the list (remove or correct what is named above) and try again;\n"
           "xgw: `xgw protocol show " + protocol.id + "` lists what the protocol allows.");
    return kExitPolicy;
  }
  const Manifest& manifest = check.manifest;
  if (!have_key)
    for (const auto& f : protocol.fields)
      if (f.subject_identifier && std::find(manifest.columns.begin(), manifest.columns.end(), f.name) != manifest.columns.end()) {
        Notice("xgw: warning: no subject-index key configured; your DPO will not be able to find people in this list"
               " (give --subject-key FILE)");
        break;
      }
  if (args.Has("check-only")) {
    Notice("xgw: the list passes every check of protocol " + protocol.id + ": " + std::to_string(manifest.row_count) +
           " rows; nothing was sent (--check-only)");
    return kExitOk;
  }
  return std::nullopt;
}

// Step 2 of `xgw send`: the keys of those who may receive under `protocol`;
// an exit code if there are none.
std::optional<int> FetchRecipients(Gateway& gw, const Protocol& protocol, std::vector<age::X25519Recipient>& out) {
  auto rs = gw.Json("GET", "/api/v1/protocols/" + UrlEncode(protocol.id) + "/recipients");
  if (!rs) return Report(rs.error());
  std::string shown;
  for (const auto& r : Items(*rs)) {
    auto rec = age::X25519Recipient::Parse(Str(r, "age_recipient"));
    if (!rec) return Report(Error{ErrorCode::kKey, "the gateway returned an invalid recipient key"});
    out.push_back(*rec);
    // The fingerprint is computed here from the key the list is encrypted
    // to, not taken from the gateway, so comparing it (by phone, say) with
    // the one the recipient's `xgw whoami` shows checks the key itself.
    shown += "  " + Str(r, "name") + " (" + Str(r, "organisation_name") + "): key " +
             age::KeyFingerprint(rec->String()) + "\n";
  }
  if (!out.empty()) Notice("encrypting to " + std::to_string(out.size()) + " recipient(s):\n" + shown.substr(0, shown.size() - 1));
  if (out.empty())
    return Report(Error{ErrorCode::kConflict, "nobody who may receive this list has registered a key yet; nothing was sent"},
                  "ask the receiving organisation to run `xgw register-key`");
  return std::nullopt;
}

// Step 3 of `xgw send`: encrypts `path` into `tmp`, proving it is the file
// that was checked (`manifest`); an exit code if it is not, or fails.
std::optional<int> EncryptChecked(const std::string& path, const std::vector<age::X25519Recipient>& recipients,
                                  const Manifest& manifest, const TempFile& tmp) {
  auto src = FileSource::Open(path);
  if (!src) return Report(src.error());
  HashingSource hashing(*src);
  FileSink out = FileSink::Borrow(tmp.fd());
  std::vector<const age::Recipient*> ptrs;
  for (const auto& r : recipients) ptrs.push_back(&r);
  if (auto r = age::Encrypt(ptrs, hashing, out, false); !r) return Report(r.error());
  if (hashing.HexDigest() != manifest.sha256 || hashing.size() != manifest.byte_size)
    return Report(Error{ErrorCode::kConflict, "the file changed while it was being sent; nothing was sent"},
                  "wait until the file is saved and closed, then send again");
  if (::fsync(tmp.fd()) != 0) return Report(IoError("fsync", tmp.path(), errno));
  return std::nullopt;
}

// Step 4 of `xgw send`: uploads the encrypted list `tmp` and says what was
// sent. A list up to kOneRequestMax goes in one request (create document,
// newline, subject index, age file); a larger one is announced first, so
// that a refusal (protocol suspended, one-off used) comes before a long
// transfer, and then uploaded in chunks (subject index, age file) that
// survive a lost connection (client/chunked_upload.h).
int UploadEncrypted(const Args& args, Gateway& gw, const Protocol& protocol, const SignedManifest& signed_manifest,
                    const ListCheck& check, const TempFile& tmp, size_t recipients) {
  const Manifest& manifest = check.manifest;
  json body = {{"protocol_id", protocol.id},
               {"version_hash", protocol.version_hash},
               {"manifest", json::parse(signed_manifest.canonical_json)},
               {"manifest_signature", signed_manifest.signature}};
  auto refused = [&](const Error& e, const std::string& hint) {
    Violations vs = ViolationsOfProblem(gw.last_problem());
    if (vs.empty()) return Report(e, hint);
    Notice("xgw: the gateway refused the list:");
    PrintViolations(vs, 0);
    Report(e, "nothing was sent; fix what is named above");
    return kExitPolicy;
  };
  auto src = FileSource::Open(tmp.path());
  if (!src) return Report(src.error());
  // The streamed subject index: the sorted raw values the manifest's count
  // and sha256 describe (empty when the manifest lists them, or has none).
  const std::span<const Sha256Digest> index_values =
      manifest.subject_index_streamed ? std::span<const Sha256Digest>(check.subject_values)
                                      : std::span<const Sha256Digest>();
  MemorySource index_src(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(index_values.data()),
                                                  index_values.size_bytes()));
  ConcatSource index_then_file(index_src, *src);
  const uint64_t content_size = index_values.size_bytes() + tmp.Size();
  std::string id;
  Result<HttpResponse> up = Fail(ErrorCode::kInternal, "not sent");
  if (tmp.Size() <= kOneRequestMax) {
    const std::string head = body.dump() + "\n";
    MemorySource head_src(head);
    ConcatSource head_then_content(head_src, index_then_file);
    up = gw.Upload("POST", "/api/v1/exchanges/upload", head_then_content, head.size() + content_size,
                   "application/vnd.xgw.exchange", true);
    if (!up) return refused(up.error(), "the list was not delivered; send it again");
  } else {
    auto created = gw.Json("POST", "/api/v1/exchanges", body);
    if (!created) return refused(created.error(), "");
    id = Str(*created, "id");
    // In chunks: a lost connection costs one chunk, not the whole list.
    const UploadContent content(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(index_values.data()), index_values.size_bytes()),
        tmp.fd(), tmp.Size());
    up = UploadInChunks(gw, id, content);
    if (!up) {
      return refused(up.error(), "the list was not delivered (exchange " + id +
                                     " is discarded by the gateway in time); send it again");
    }
  }
  json done = json::parse(up->body, nullptr, false);
  if (id.empty() && done.is_object()) id = Str(done, "id");
  if (args.Has("json")) {
    json out = {{"id", id}, {"rows", manifest.row_count}, {"recipients", recipients}};
    if (done.is_object()) out["exchange"] = done;
    Print(out.dump(2) + "\n");
    return kExitOk;
  }
  std::string expires = done.is_object() ? Str(done, "expires_at") : "";
  Print("sent: exchange " + id + ", " + std::to_string(manifest.row_count) + " rows, encrypted for " +
        std::to_string(recipients) + " recipient(s)" + (expires.empty() ? "" : "; deleted at the latest on " + expires) + "\n");
  return kExitOk;
}

}  // namespace

int RunSend(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {'p', "protocol", true},    {0, "subject-key", true}, {0, "subject-key-id", true}, {0, "identity", true},
      {0, "sheet", true},         {0, "header-row", true},  {0, "drop-extra", false},    {0, "check-only", false},
      kConfigFlag,                kJsonFlag,                kHelpFlag,
  };
  constexpr std::string_view kUsage =
      "xgw send --protocol ID [--check-only] [--subject-key FILE] [--identity FILE] [--sheet NAME]\n"
      "         [--header-row N] [--drop-extra] FILE";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage,
                    "Checks the list (CSV or XLSX) against the protocol on this computer, explains every\n"
                    "problem (row, column, rule), and only if there is none encrypts it for the allowed\n"
                    "recipients, signs its description and uploads it. --check-only stops after the check.\n"
                    "The header row is found below title rows; --header-row N names it. --sheet NAME reads\n"
                    "another sheet. --drop-extra writes a copy without the columns the protocol refuses\n"
                    "(FILE.cleaned.csv, FILE unchanged) and checks and sends that copy.");
  if (!args->Has("protocol")) return UsageError("--protocol ID is required", kUsage);
  if (args->positional.size() != 1) return UsageError("give exactly one list file", kUsage);
  ListToSend list{args->positional[0], args->Last("sheet").value_or(""), HeaderSearch{}, ListCheck{}};
  if (auto h = args->Last("header-row")) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(h->c_str(), &end, 10);
    if (h->empty() || *end != '\0' || n == 0 || n > 1000000) return UsageError("--header-row needs a row number (1, 2, ...)", kUsage);
    list.search.header_row = n;
  }
  auto cfg = LoadClientConfig(*args);
  if (!cfg) return Report(cfg.error());
  Gateway gw(*cfg);
  auto fetched = FetchProtocol(gw, *args->Last("protocol"));
  if (!fetched) return Report(fetched.error());
  const Protocol& protocol = fetched->protocol;
  auto key = LoadSubjectKey(*args, *cfg);
  if (!key) return Report(key.error());
  std::string key_id = args->Last("subject-key-id").value_or(cfg->subject_key_id.empty() ? "org" : cfg->subject_key_id);

  // 1. Local check: nothing leaves the machine unless the list passes.
  CheckListOptions opts;
  if (*key) {
    opts.subject_key = (*key)->span();
    opts.subject_key_id = key_id;
    // The manifest carries the index's count and digest; the values (32
    // bytes each) follow it in the upload, so no size of list makes the
    // create document too large.
    opts.stream_subject_index = true;
  }
  SendRequest request{MyParty(gw, *fetched), LocalDecisionTime(*fetched), 0};
  auto check = CheckLocally(*fetched, list.path, list.sheet, list.search, request, opts);
  if (!check) return Report(check.error());
  list.check = std::move(*check);
  NoteHeader(list.check.header);
  if (auto stop = UseCleanedCopy(*args, *fetched, request, opts, list)) return *stop;
  if (auto stop = LocalVerdict(*args, protocol, list.check, key->has_value())) return *stop;

  // 2. Recipients and keys.
  std::vector<age::X25519Recipient> recipients;
  if (auto stop = FetchRecipients(gw, protocol, recipients)) return *stop;
  auto identity = LoadIdentity(*args, *cfg);
  if (!identity) return Report(identity.error());
  auto signing = DeriveSigningKey(*identity);
  if (!signing) return Report(signing.error());
  auto signed_manifest = SignManifest(list.check.manifest, *signing);
  if (!signed_manifest) return Report(signed_manifest.error());

  // 3. Encrypt to a temporary file, proving it is the file that was checked.
  auto tmp = TempFile::Create();
  if (!tmp) return Report(tmp.error());
  if (auto stop = EncryptChecked(list.path, recipients, list.check.manifest, *tmp)) return *stop;

  // 4. Upload.
  return UploadEncrypted(*args, gw, protocol, *signed_manifest, list.check, *tmp, recipients.size());
}

namespace {

// "Name (Organisation)" of an exchange's sender, as the gateway names them;
// the ids when it gave no names.
std::string SenderName(const json& e) {
  const std::string person = Str(e, "sender_user_name");
  const std::string org = Str(e, "sender_org_name");
  if (person.empty() && org.empty()) return Str(e, "sender_org");
  return person.empty() ? org : person + " (" + org + ")";
}

}  // namespace

int RunInbox(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {{0, "sent", false}, kConfigFlag, kJsonFlag, kHelpFlag};
  const CommandSpec spec{kFlags, "xgw inbox [--sent] [--json]",
                         "Lists the lists waiting for you (--sent: the lists you sent)."};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    // The gateway answers in pages; follow them to the end.
    const std::string base = std::string("/api/v1/exchanges?box=") + (args.Has("sent") ? "sent" : "inbox");
    json items = json::array();
    std::string after;
    do {
      auto r = gw.Json("GET", base + (after.empty() ? "" : "&after=" + UrlEncode(after)));
      if (!r) return Report(r.error());
      for (auto& e : Items(*r)) items.push_back(std::move(e));
      after = r->contains("next") && (*r)["next"].is_string() ? (*r)["next"].get<std::string>() : "";
    } while (!after.empty());
    const char* none = args.Has("sent") ? "You have not sent any list." : "Nothing waiting for you.";
    if (PrintedAsJsonOrNone(args, items, none)) return kExitOk;
    for (const auto& e : items)
      Print(Str(e, "id") + "  " + Str(e, "state") + "  protocol " + Str(e, "protocol_id") + "  from " +
            SenderName(e) + "  " + FormatRows(e) + " rows  sent " + LocalTime(Str(e, "created_at")) +
            "  deleted by " + LocalTime(Str(e, "expires_at")) + "\n");
    if (!args.Has("sent")) Print("\nRun `xgw receive ID -o FILE` to fetch one.\n");
    return kExitOk;
  });
}

namespace {

// `xgw receive --raw`: the encrypted file saved as it is.
int SaveEncrypted(const Args& args, Gateway& gw, const std::string& base, std::string_view usage) {
  auto path = args.Last("output");
  if (!path || *path == "-") return UsageError("--raw needs -o FILE", usage);
  auto out = Output::Open(*path, 0600, IfExistsFromFlags(args));
  if (!out) return Report(out.error());
  auto r = gw.Download(base + "/content", out->sink(), true);
  if (!r) return Report(r.error());
  if (auto c = out->Commit(); !c) return Report(c.error());
  Notice("xgw: saved the encrypted list to " + *path + " (decrypt with `age -d -i IDENTITY`)");
  return kExitOk;
}

// A received list that failed verification: reported to the gateway as a
// violation `code` of the exchange at `base`; nothing is written.
int Reject(Gateway& gw, const std::string& base, const std::string& code, json details, const std::string& what) {
  json body = {{"code", code}, {"details", std::move(details)}};
  auto r = gw.Json("POST", base + "/violations", body);
  Notice("xgw: REJECTED: " + what);
  Notice(std::string("xgw: nothing was written. ") +
         (r ? "The violation was reported to the gateway; both organisations' DPOs can see it."
            : "Reporting it to the gateway failed too (" + ToString(r.error()) + "); tell your DPO."));
  return kExitRejected;
}

// The rejection of a list whose content does not match its manifest or the
// protocol, with the violations named.
int RejectContent(Gateway& gw, const std::string& base, const ReceivedCheck& check) {
  json details = json::array();
  for (const auto& m : check.mismatches) details.push_back({{"code", m + "_differs"}});
  for (const auto& v : check.violations) {
    json d = {{"code", v.code}};
    if (v.row != 0) d["row"] = v.row;
    if (!v.column.empty()) d["column"] = v.column;
    details.push_back(d);
  }
  std::string what = check.code == "manifest_mismatch"
                         ? "the list does not match what the sender declared and signed (differs: "
                         : "the list holds data the protocol does not allow (";
  std::string list;
  for (const auto& m : check.mismatches) list += (list.empty() ? "" : ", ") + m;
  if (check.code != "manifest_mismatch") list = std::to_string(check.violations.size()) + " problem(s)";
  for (const auto& v : check.violations) Notice("  - " + ExplainViolation(v));
  // Only the fingerprints differ: the gateway's vocabulary calls that a hash mismatch.
  bool only_hashes = check.code == "manifest_mismatch" &&
                     std::all_of(check.mismatches.begin(), check.mismatches.end(), [](const std::string& m) {
                       return m == "sha256" || m == "rows_sha256" || m == "byte_size";
                     });
  return Reject(gw, base, only_hashes ? "hash_mismatch" : check.code, details, what + list + ")");
}

// A deleted, revoked or unfinished exchange has no content to verify: say
// so plainly instead of treating its absent manifest as a violation.
std::optional<int> Unavailable(const std::string& id, const json& meta) {
  const std::string state = Str(meta, "state");
  if (state == "available" || state == "acknowledged") return std::nullopt;
  std::string when = Str(meta, "deleted_at");
  return Report(Error{ErrorCode::kNotFound, "exchange " + id + " is " + (state.empty() ? "not available" : state) +
                                                (when.empty() ? "" : " (since " + when + ")") +
                                                ": there is nothing to download"});
}

// Pass 1 of `xgw receive`: decrypts the ciphertext in `tmp` and checks it
// in memory against `declared` and the protocol; no plaintext is written.
// An exit code if it does not verify.
std::optional<int> VerifyReceived(Gateway& gw, const std::string& base, const TempFile& tmp,
                                  const std::vector<const age::Identity*>& ids, const Protocol& protocol,
                                  const Manifest& declared, const std::optional<SecretBuffer>& subject_key) {
  auto src = FileSource::Open(tmp.path());
  if (!src) return Report(src.error());
  auto dec = age::Decryptor::Open(*src, ids);
  if (!dec)
    return dec.error().code == ErrorCode::kNoMatch
               ? Report(dec.error(), "this list was not encrypted for your key; check --identity")
               : Reject(gw, base, "decrypt_failed", json::array({{{"code", ErrorCodeName(dec.error().code)}}}),
                        "the encrypted file is damaged or was modified");
  auto check = CheckReceivedList(protocol, declared, **dec,
                                 subject_key ? subject_key->span() : std::span<const uint8_t>());
  if (!check) {
    if (check.error().code == ErrorCode::kIo) return Report(check.error());
    return Reject(gw, base, "decrypt_failed", json::array({{{"code", ErrorCodeName(check.error().code)}}}),
                  "the encrypted file is damaged or was modified (" + check.error().message + ")");
  }
  if (!check->ok()) return RejectContent(gw, base, *check);
  return std::nullopt;
}

// Downloads `url` into a new 0600 temporary file.
Result<TempFile> DownloadToTemp(Gateway& gw, const std::string& url) {
  XGW_TRY(TempFile tmp, TempFile::Create());
  FileSink sink = FileSink::Borrow(tmp.fd());
  if (auto r = gw.Download(url, sink, true); !r) return tl::unexpected(r.error());
  XGW_CHECK(sink.Flush());
  return tmp;
}

// What `xgw receive` says of a list it verified and wrote to `out_path`.
int SayReceived(const Args& args, const std::string& id, const std::string& out_path, const Manifest& declared,
                const std::string& expires) {
  if (args.Has("json")) {
    Print(json{{"id", id}, {"output", out_path}, {"rows", declared.row_count}, {"expires_at", expires}}.dump(2) + "\n");
    return kExitOk;
  }
  Notice("xgw: received " + std::to_string(declared.row_count) + " rows under protocol " + declared.protocol_id +
         "; signature, fingerprint and content verified" + (out_path == "-" ? "" : "; saved to " + out_path));
  if (!expires.empty())
    Notice("xgw: the gateway deletes its copy on " + expires +
           ". Keep your copy only as long as the protocol allows; run `xgw ack " + id + "` once you have it.");
  return kExitOk;
}

}  // namespace

int RunReceive(std::span<char* const> argv) {
  static constexpr FlagSpec kFlags[] = {
      {'o', "output", true}, {0, "raw", false}, {0, "identity", true}, {0, "subject-key", true},
      {0, "check-subject-index", false}, {0, "force", false}, kConfigFlag, kJsonFlag, kHelpFlag,
  };
  constexpr std::string_view kUsage =
      "xgw receive ID [-o FILE [--force]] [--identity FILE] [--check-subject-index [--subject-key FILE]]\n"
      "       xgw receive ID --raw -o FILE [--force]";
  auto args = ParseArgs(argv, kFlags);
  if (!args) return UsageError(args.error().message, kUsage);
  if (args->Has("help"))
    return ShowHelp(kUsage,
                    "Downloads a list, decrypts it, checks the sender's signature, the list's fingerprint\n"
                    "and its content against the protocol. Only if everything matches is the list written\n"
                    "(mode 0600). --raw saves the encrypted file as it is (for `age -d`). An existing\n"
                    "file is never replaced unless --force is given.");
  if (args->positional.size() != 1) return UsageError("give exactly one exchange id", kUsage);
  const std::string id = args->positional[0];
  if (args->Has("raw") && (!args->Has("output") || *args->Last("output") == "-"))
    return UsageError("--raw needs -o FILE", kUsage);
  auto cfg = LoadClientConfig(*args);
  if (!cfg) return Report(cfg.error());
  Gateway gw(*cfg);
  const std::string base = "/api/v1/exchanges/" + UrlEncode(id);
  if (args->Has("raw")) return SaveEncrypted(*args, gw, base, kUsage);

  auto meta = gw.Json("GET", base);
  if (!meta) return Report(meta.error());
  if (auto stop = Unavailable(id, *meta)) return *stop;
  // Every key of the identity file: a list sent before a key rotation is
  // encrypted to an earlier one.
  auto identities = LoadIdentities(*args, *cfg);
  if (!identities) return Report(identities.error());
  // The subject index can only be re-derived with the SENDER's organisation
  // key, which a receiver in another organisation does not have: opt in.
  std::optional<SecretBuffer> subject_key;
  if (args->Has("check-subject-index")) {
    auto key = LoadSubjectKey(*args, *cfg);
    if (!key) return Report(key.error());
    if (!*key) return UsageError("--check-subject-index needs --subject-key FILE (the sender organisation's key)", kUsage);
    subject_key = std::move(**key);
  }

  // The manifest the sender signed.
  json manifest_json = (*meta)["manifest"];
  std::string manifest_text = manifest_json.is_string() ? manifest_json.get<std::string>() : manifest_json.dump();
  auto declared = VerifySignedManifest(manifest_text, Str(*meta, "manifest_signature"),
                                       Str(*meta, "sender_ed25519_verify_key"));
  if (!declared)
    return Reject(gw, base, "signature_invalid", json::array({{{"code", ErrorCodeName(declared.error().code)}}}),
                  "the sender's signature on the list's description does not verify (" + declared.error().message + ")");
  auto fetched = FetchProtocol(gw, declared->protocol_id);
  if (!fetched) return Report(fetched.error());
  if (fetched->protocol.version_hash != declared->protocol_version)
    return Reject(gw, base, "manifest_mismatch", json::array({{{"code", "protocol_version"}}}),
                  "the list was described under another version of the protocol");

  // The output is opened before anything is downloaded, so that a path that
  // would be refused (an existing list without --force) costs no download;
  // nothing reaches it before pass 2.
  std::string out_path = args->Last("output").value_or(
      id + (declared->list_format == InputFormat::kXlsx ? ".xlsx" : ".csv"));
  auto out = Output::Open(out_path, 0600, IfExistsFromFlags(*args));
  if (!out) return Report(out.error());
  auto tmp = DownloadToTemp(gw, base + "/content");
  if (!tmp) return Report(tmp.error());
  std::vector<const age::Identity*> ids;
  for (const auto& key : *identities) ids.push_back(&key);
  if (auto stop = VerifyReceived(gw, base, *tmp, ids, fetched->protocol, *declared, subject_key)) return *stop;
  // Pass 2: the ciphertext verified above (our own 0600 copy) is decrypted again into the output.
  {
    auto src = FileSource::Open(tmp->path());
    if (!src) return Report(src.error());
    auto n = age::Decrypt(ids, *src, out->sink());
    if (!n) return Report(n.error());
  }
  if (auto c = out->Commit(); !c) return Report(c.error());
  return SayReceived(*args, id, out_path, *declared, Str(*meta, "expires_at"));
}

namespace {
int SimplePost(std::span<char* const> argv, std::string_view usage, std::string_view help, const char* action,
               const char* done) {
  static constexpr FlagSpec kFlags[] = {kConfigFlag, kJsonFlag, kHelpFlag};
  const CommandSpec spec{kFlags, usage, help, 1, "give exactly one exchange id"};
  return RunGatewayCommand(argv, spec, [&](const Args& args, Gateway& gw) {
    auto r = gw.Json("POST", "/api/v1/exchanges/" + UrlEncode(args.positional[0]) + "/" + action, json::object());
    if (!r) return Report(r.error());
    if (args.Has("json")) Print(r->dump(2) + "\n");
    else Notice(std::string("xgw: ") + done + " " + args.positional[0]);
    return kExitOk;
  });
}
}  // namespace

int RunAck(std::span<char* const> argv) {
  return SimplePost(argv, "xgw ack ID", "Confirms that you received the list (the protocol may then delete it).",
                    "ack", "acknowledged");
}

int RunRevoke(std::span<char* const> argv) {
  return SimplePost(argv, "xgw revoke ID", "Withdraws a list you sent; the gateway deletes it at once.", "revoke",
                    "revoked");
}

}  // namespace xgw::cli

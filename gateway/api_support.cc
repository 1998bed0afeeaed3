#include "gateway/api_support.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>

#include "audit/audit_event.h"
#include "gateway/http/problem.h"

namespace xgw {

using json = nlohmann::json;

namespace {

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(const std::string& s) {
  std::string d;
  d.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int h = HexVal(s[i + 1]), l = HexVal(s[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      d.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else {
      d.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return d;
}

// Buffers the optional small JSON body of a POST action (empty = {}).
class OptionalJsonSink final : public RequestBodySink {
 public:
  OptionalJsonSink(JsonHandler run, RequestContext ctx) : run_(std::move(run)), ctx_(std::move(ctx)) {}
  Result<void> Write(std::span<const uint8_t> data) override {
    if (body_.size() + data.size() > 64 * 1024) {
      return Fail(ErrorCode::kLimit, "the request body may be at most 65536 bytes");
    }
    body_.append(AsText(data));
    return {};
  }
  Response Finish() override {
    if (body_.find_first_not_of(" \t\r\n") == std::string::npos) return run_(ctx_, json::object());
    auto parsed = ParseJsonBody(body_);
    if (!parsed || !parsed->is_object()) {
      return Problem(400, "invalid-json", "Invalid JSON", "the request body must be empty or one JSON object",
                     ctx_.request_id());
    }
    return run_(ctx_, *parsed);
  }

 private:
  JsonHandler run_;
  RequestContext ctx_;
  std::string body_;
};

}  // namespace

bool IsDecimal(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::map<std::string, std::string>> ParseQuery(const std::string& target) {
  std::map<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string::npos) return out;
  const std::string query = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      auto key = PercentDecode(part.substr(0, eq));
      auto value = PercentDecode(eq == std::string::npos ? "" : part.substr(eq + 1));
      if (!key || !value) return std::nullopt;
      out[*key] = *value;
    }
    pos = amp + 1;
  }
  return out;
}

Result<QueryParams> QueryParams::Parse(const std::string& target, std::initializer_list<std::string_view> allowed,
                                       std::string_view unknown_detail) {
  auto parsed = ParseQuery(target);
  if (!parsed) return Fail(ErrorCode::kInvalidArgument, "malformed query string");
  for (const auto& [key, value] : *parsed) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Fail(ErrorCode::kInvalidArgument, std::string(unknown_detail));
    }
  }
  QueryParams q;
  q.values_ = std::move(*parsed);
  return q;
}

std::optional<std::string> QueryParams::Get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<uint64_t>> QueryParams::Number(const std::string& key, std::string_view detail,
                                                    bool positive) const {
  auto v = Get(key);
  if (!v) return std::optional<uint64_t>();
  if (!IsDecimal(*v) || (positive && std::stoull(*v) == 0)) {
    return Fail(ErrorCode::kInvalidArgument, std::string(detail));
  }
  return std::optional<uint64_t>(std::stoull(*v));
}

Response InvalidQuery(const RequestContext& ctx, std::string_view detail) {
  return Problem(400, "invalid-query", "Invalid query", detail, ctx.request_id());
}

Caller CallerOf(const RequestContext& ctx) {
  return Caller{ctx.principal, IsSafeId(ctx.request_id()) ? ctx.request_id() : std::string(), ctx.now};
}

StreamOpener OptionalJsonBody(JsonHandler run) {
  return [run = std::move(run)](RequestContext& ctx) -> Result<std::unique_ptr<RequestBodySink>> {
    return std::unique_ptr<RequestBodySink>(std::make_unique<OptionalJsonSink>(run, ctx));
  };
}

}  // namespace xgw

#include "gateway/web_app.h"


#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "gateway/http/problem.h"

namespace xgw {

namespace fs = std::filesystem;

namespace {

// A web app is a page, a few scripts, a style sheet and some images: bounds
// far above that keep a wrong server.web_root (a home directory, say) from being
// read into memory.
constexpr size_t kMaxAssets = 256;
constexpr uintmax_t kMaxAssetBytes = 16u << 20;
constexpr uintmax_t kMaxTotalBytes = 64u << 20;

// Served types by extension; a file of another type is refused at start-up
// rather than served with a guessed one.
const char* ContentTypeOf(const std::string& name) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".js", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},                 {".png", "image/png"},
      {".woff2", "font/woff2"},                  {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},     {".ico", "image/x-icon"},
  };
  for (const auto& [ext, type] : kTypes) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return type;
  }
  return nullptr;
}

bool IsAssetName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return ContentTypeOf(name) != nullptr;
}

Result<std::string> ReadSmallFile(const fs::path& path, uintmax_t* total) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Fail(ErrorCode::kIo, path.string() + ": " + ec.message());
  if (size > kMaxAssetBytes) return Fail(ErrorCode::kFormat, path.string() + " is larger than a web asset may be");
  *total += size;
  if (*total > kMaxTotalBytes) return Fail(ErrorCode::kFormat, "the web app's files together are too large");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

Response StaticResponse(const std::string& content_type, const std::string& body, const char* cache) {
  Response r;
  r.content_type = content_type;
  r.body = body;
  r.headers.emplace_back("Cache-Control", cache);
  return r;
}

}  // namespace

std::string DefaultWebRoot() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "/usr/share/xgw/web";
  return (exe.parent_path().parent_path() / "share" / "xgw" / "web").string();
}

Result<WebApp> LoadWebApp(const std::string& root) {
  const fs::path dir(root);
  std::error_code ec;
  if (!fs::is_regular_file(dir / "index.html", ec)) {
    return Fail(ErrorCode::kNotFound, (dir / "index.html").string() + " does not exist");
  }
  WebApp app;
  uintmax_t total = 0;
  XGW_TRY(app.index_html, ReadSmallFile(dir / "index.html", &total));
  const fs::path assets = dir / "assets";
  if (!fs::is_directory(assets, ec)) return app;
  for (const auto& entry : fs::directory_iterator(assets, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec)) continue;
    if (!IsAssetName(name)) {
      return Fail(ErrorCode::kFormat, entry.path().string() + ": not a file the web app serves (name or type)");
    }
    if (app.assets.size() == kMaxAssets) return Fail(ErrorCode::kFormat, "the web app has too many files");
    XGW_TRY(auto body, ReadSmallFile(entry.path(), &total));
    app.assets[name] = WebAsset{ContentTypeOf(name), std::move(body)};
  }
  if (ec) return Fail(ErrorCode::kIo, assets.string() + ": " + ec.message());
  return app;
}

void RegisterWebRoutes(Router& router, std::shared_ptr<const WebApp> app) {
  router.AddParameterRule(
      "asset", [app](const std::string& name) { return IsAssetName(name); },
      "a file name of the web app (letters, digits, '-', '_', '.')");
  router.Add({.method = "GET",
              .pattern = "/",
              .public_route = true,
              .handler = [app](RequestContext& ctx, const nlohmann::json&) {
                if (!app) {
                  return Problem(404, "web-app-not-installed", "Web app not installed",
                                 "this gateway serves the API only; an operator can install the web app "
                                 "(server.web_root)",
                                 ctx.request_id());
                }
                // Revalidated on every visit: the page names the assets of
                // the release that is running now.
                return StaticResponse("text/html; charset=utf-8", app->index_html, "no-cache");
              }});
  router.Add({.method = "GET",
              .pattern = "/assets/{asset}",
              .public_route = true,
              .handler = [app](RequestContext& ctx, const nlohmann::json&) {
                if (app) {
                  if (auto it = app->assets.find(ctx.params.at("asset")); it != app->assets.end()) {
                    // The name changes with the content: cache it for a year.
                    return StaticResponse(it->second.content_type, it->second.body,
                                          "public, max-age=31536000, immutable");
                  }
                }
                return Problem(404, "not-found", "Not found", "no such file in the web app", ctx.request_id());
              }});
}

}  // namespace xgw

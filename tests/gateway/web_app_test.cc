// LoadWebApp: what xgwd agrees to serve as the web app, read once at start.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "gateway/web_app.h"
#include "tests/gateway/temp_dir.h"

using namespace xgw;
using xgw::test::TempDir;

namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("A directory without index.html is no web app, and says which file is missing") {
  TempDir dir;
  auto app = LoadWebApp(dir.path);
  REQUIRE(!app);
  CHECK(app.error().code == ErrorCode::kNotFound);
  CHECK(app.error().message.find("index.html") != std::string::npos);
}

TEST_CASE("The page and its hashed assets are read with their types") {
  TempDir dir;
  Write(dir.path + "/index.html", "<!doctype html>");
  Write(dir.path + "/assets/app-ABC123.js", "export {}");
  Write(dir.path + "/assets/app-ABC123.css", "body{}");
  Write(dir.path + "/assets/app-ABC123.js.LEGAL.txt", "MIT");
  auto app = LoadWebApp(dir.path);
  REQUIRE(app);
  CHECK(app->index_html == "<!doctype html>");
  REQUIRE(app->assets.size() == 3);
  CHECK(app->assets.at("app-ABC123.js").content_type == "text/javascript; charset=utf-8");
  CHECK(app->assets.at("app-ABC123.css").content_type == "text/css; charset=utf-8");
  CHECK(app->assets.at("app-ABC123.js.LEGAL.txt").body == "MIT");
}

TEST_CASE("A file the web app would not serve stops the start instead of being skipped") {
  for (const char* name : {".hidden.js", "tool.sh", "page.html", "name with space.js"}) {
    TempDir dir;
    Write(dir.path + "/index.html", "<!doctype html>");
    Write(dir.path + "/assets/" + name, "x");
    auto app = LoadWebApp(dir.path);
    INFO(name);
    REQUIRE(!app);
    CHECK(app.error().code == ErrorCode::kFormat);
  }
}

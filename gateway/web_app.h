// The web app's static files, served by xgwd from the same origin as the API.
//
// The build (web/build.mjs) writes index.html and an assets/ directory whose
// file names carry a hash of their content; xgwd reads them all into memory
// at start-up (a few hundred KB) and serves index.html at "/" (revalidated
// every time, so a new release is picked up) and each asset at
// "/assets/<name>" with a year-long immutable cache. No file is read from
// disk per request, and no request can name a path outside that set.
#ifndef XGW_GATEWAY_WEB_APP_H_
#define XGW_GATEWAY_WEB_APP_H_

#include <map>
#include <memory>
#include <string>

#include "crypto/error.h"
#include "gateway/http/router.h"

namespace xgw {

struct WebAsset {
  std::string content_type;
  std::string body;
};

struct WebApp {
  std::string index_html;
  std::map<std::string, WebAsset> assets;  // by file name under assets/
};

// Where a build or an install put the web app: <dir of xgwd>/../share/xgw/web.
std::string DefaultWebRoot();

// Reads `root`/index.html and every regular file in `root`/assets. kNotFound
// if `root`/index.html does not exist (the web app is not installed);
// kFormat for a file whose name or type the gateway would not serve, or
// more files or bytes than a web app needs.
Result<WebApp> LoadWebApp(const std::string& root);

// GET / and GET /assets/{asset}: public, like the sign-in page must be.
void RegisterWebRoutes(Router& router, std::shared_ptr<const WebApp> app);

}  // namespace xgw

#endif  // XGW_GATEWAY_WEB_APP_H_

// Key custody routes (gateway/api_keys.cc says which): a person's
// passphrase-wrapped key backup and the history of their public keys.
#ifndef XGW_GATEWAY_API_KEYS_H_
#define XGW_GATEWAY_API_KEYS_H_

#include "gateway/http/router.h"

namespace xgw {

void RegisterKeyRoutes(Router& router);

}  // namespace xgw

#endif  // XGW_GATEWAY_API_KEYS_H_

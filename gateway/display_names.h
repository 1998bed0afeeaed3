// Display names of the organisations and people an answer names next to
// their ids, each looked up once per answer. A name that cannot be found
// (an id from before a deletion, a store error) is "" : a listing still
// answers, with the id alone.
#ifndef XGW_GATEWAY_DISPLAY_NAMES_H_
#define XGW_GATEWAY_DISPLAY_NAMES_H_

#include <map>
#include <string>

#include "gateway/identity_store.h"

namespace xgw {

class DisplayNames {
 public:
  explicit DisplayNames(IdentityStore& store) : store_(store) {}

  const std::string& Organisation(const std::string& org_id) {
    auto [it, fresh] = orgs_.try_emplace(org_id);
    if (fresh) {
      if (auto org = store_.GetOrganisation(org_id)) it->second = org->name;
    }
    return it->second;
  }

  const std::string& Person(const std::string& user_id) {
    auto [it, fresh] = people_.try_emplace(user_id);
    if (fresh) {
      if (auto user = store_.GetUser(user_id)) it->second = user->display_name;
    }
    return it->second;
  }

 private:
  IdentityStore& store_;
  std::map<std::string, std::string> orgs_;
  std::map<std::string, std::string> people_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_DISPLAY_NAMES_H_

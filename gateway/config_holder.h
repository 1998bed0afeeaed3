// The daemon's current configuration, swappable on SIGHUP. Readers take a
// snapshot (shared_ptr) and keep using it for the whole request, so a reload
// never changes limits half-way through one.
#ifndef XGW_GATEWAY_CONFIG_HOLDER_H_
#define XGW_GATEWAY_CONFIG_HOLDER_H_

#include <memory>
#include <mutex>

#include "config/config.h"

namespace xgw {

class ConfigHolder {
 public:
  explicit ConfigHolder(Config c) : current_(std::make_shared<const Config>(std::move(c))) {}
  std::shared_ptr<const Config> Get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void Set(Config c) {
    auto next = std::make_shared<const Config>(std::move(c));
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Config> current_;
};

}  // namespace xgw

#endif  // XGW_GATEWAY_CONFIG_HOLDER_H_

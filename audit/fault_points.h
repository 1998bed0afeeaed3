// Fault points: named places where a test can make an operation fail, as
// SQLite's test VFS does, so that fail-closed paths are exercised on every
// machine (no root, no immutable files, no full disk needed).
//
// A point is active while the file $XGW_FAULT_DIR/<name> exists. Without
// XGW_FAULT_DIR (production) every check is one load of a cached empty string.
// Never set XGW_FAULT_DIR outside tests.
//
// Points: "audit-commit" (the audit log's COMMIT and its recovery probe fail
// as a full disk or an fsync error would), "exchange-publish" (the
// transaction that makes an uploaded exchange available fails after its
// audit events were committed), "kill-after-publish" (the daemon exits at
// once with status 137, as SIGKILL would, after an upload's exchange was
// committed as available and before its answer is written).
//
// Thread-safe.
#ifndef XGW_GATEWAY_AUDIT_FAULT_POINTS_H_
#define XGW_GATEWAY_AUDIT_FAULT_POINTS_H_

#include <string_view>

namespace xgw {

bool FaultPointActive(std::string_view name);

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_FAULT_POINTS_H_

// SqliteAuditStore: the audit log in its own SQLite file (WAL,
// synchronous=FULL), the embedded default AuditStore. The only file of
// xgw_audit with SQL in it. Schema and its history: docs/audit-log.md.
//
// Thread safety: as AuditStore (one thread at a time per instance).
#ifndef XGW_AUDIT_SQLITE_AUDIT_STORE_H_
#define XGW_AUDIT_SQLITE_AUDIT_STORE_H_

#include <memory>
#include <string>

#include "audit/audit_store.h"

namespace xgw {

// Writable: creates the file 0600 if missing (parent directory must exist)
// and makes an existing one private; then Initialise(origin) must be called
// before anything else (it creates the schema or migrates an older one).
Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStore(const std::string& path);
// Read-only, on a log another connection writes (or nobody does).
Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStoreReadOnly(const std::string& path);

}  // namespace xgw

#endif  // XGW_AUDIT_SQLITE_AUDIT_STORE_H_

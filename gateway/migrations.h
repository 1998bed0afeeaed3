// Versioned schema migrations for the gateway database.
//
// Each migration has a version (1, 2, ...) and SQL; ApplyMigrations runs the
// ones not yet recorded in `schema_migrations`, each in its own transaction
// together with its bookkeeping row, so a crash leaves the schema at a
// version boundary. A database written by a newer xgwd (a version this binary
// does not know) is refused rather than used.
//
// Later work (exchanges, audit index, sweeper) appends migrations to the list
// in migrations.cc; never edit one that has shipped.
#ifndef XGW_GATEWAY_MIGRATIONS_H_
#define XGW_GATEWAY_MIGRATIONS_H_

#include <span>

#include "crypto/error.h"
#include "gateway/database.h"

namespace xgw {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// All migrations this binary knows, in version order.
std::span<const Migration> KnownMigrations();

// Current schema version (0 for a new database).
Result<int> SchemaVersion(Database& db);

// Applies pending migrations; returns the resulting version.
Result<int> ApplyMigrations(Database& db, std::span<const Migration> migrations);
inline Result<int> ApplyMigrations(Database& db) { return ApplyMigrations(db, KnownMigrations()); }

}  // namespace xgw

#endif  // XGW_GATEWAY_MIGRATIONS_H_

// Gateway-encrypt mode's subject-index keys (config exchanges.subject_keys_dir).
//
// The directory holds one file per sending organisation, `<org-id>.key`, in
// the format the client's --subject-key reads (crypto/subject_key.h). xgwd
// reads an organisation's key only while it checks one of that
// organisation's plaintext uploads, into secret memory that is wiped right
// after. Manifests made with it name the key `<org-id>` (subject_index.key_id).
//
// Because whoever holds a key can test every national number against the
// index, the directory must belong to the user xgwd runs as and grant
// nothing to group or others (0700), and each key file must grant nothing to
// group or others (0600); anything looser is refused, not used.
#ifndef XGW_GATEWAY_SUBJECT_KEYS_H_
#define XGW_GATEWAY_SUBJECT_KEYS_H_

#include <optional>
#include <string>

#include "crypto/error.h"
#include "crypto/secret.h"

namespace xgw {

// For --check-config and start-up: `dir` exists, is a directory owned by the
// effective uid and grants nothing to group or others. "" (feature off) is
// fine. Errors name the directory and what to do.
Result<void> CheckSubjectKeysDir(const std::string& dir);

// The subject-index key of organisation `org_id` from `dir`: nullopt when
// `dir` is "" or holds no `<org-id>.key` (that organisation's uploads get no
// index). Every other problem is an error: the directory is missing or too
// open, the file is not a regular file, grants anything to group or others,
// cannot be read or does not hold a key. Error messages name the file
// relative to the directory ("org-….key in exchanges.subject_keys_dir", so
// they may be shown to the uploader) and never contain key bytes.
Result<std::optional<SecretBuffer>> ReadOrgSubjectKey(const std::string& dir,
                                                      const std::string& org_id);

}  // namespace xgw

#endif  // XGW_GATEWAY_SUBJECT_KEYS_H_

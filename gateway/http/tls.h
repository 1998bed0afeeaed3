// TLS for xgwd: the server context (TLS 1.2/1.3, ECDHE + AEAD only, server
// cipher preference), a self-signed certificate for local use, and SPKI pins
// of client certificates.
#ifndef XGW_GATEWAY_HTTP_TLS_H_
#define XGW_GATEWAY_HTTP_TLS_H_

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "config/config.h"
#include "crypto/error.h"


namespace xgw {

// TLS 1.2 suites offered: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
inline constexpr const char* kTls13Suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

// Builds a server context from config.tls (certificate chain, key, client
// certificate mode). Fails with kKey if the files cannot be loaded or do not
// match. Client certificates are accepted at the TLS layer whatever their
// issuer; authorisation happens by SPKI pin (see PeerSpkiPin).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const TlsConfig& tls);

// notAfter of the context's certificate as unix seconds; 0 if it has none or
// the time cannot be read.
int64_t CertificateNotAfter(boost::asio::ssl::context& ctx);

// Validity of the certificate `xgwd init` makes: under the 398 days the
// CA/Browser Forum's Baseline Requirements and browsers allow a TLS server
// certificate (scanners such as testssl rate longer ones MEDIUM), with a day
// to spare for the hour notBefore is set back against clock skew.
inline constexpr int kSelfSignedCertificateDays = 397;

// Writes an ECDSA P-256 key (mode 0600) and a self-signed certificate valid
// for `days` with SAN localhost, 127.0.0.1 and ::1 (mode 0644). Returns the
// certificate's SPKI pin as "sha256:<hex>".
Result<std::string> CreateSelfSignedCertificate(const std::string& cert_path,
                                                const std::string& key_path, int days);

// Lower-case hex SHA-256 of the peer certificate's SubjectPublicKeyInfo, or
// nullopt if the peer sent none.
std::optional<std::string> PeerSpkiPin(SSL* ssl);

// Same for a PEM certificate file ("sha256:<hex>"), for operators' tooling and tests.
Result<std::string> CertificateFilePin(const std::string& cert_path);

}  // namespace xgw

#endif  // XGW_GATEWAY_HTTP_TLS_H_

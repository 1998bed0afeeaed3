#include "gateway/http/tls.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>

#include "crypto/hash.h"
#include "crypto/io.h"

namespace xgw {
namespace {

struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct PkeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string SpkiHex(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return {};
  std::string hex = HexEncode(Sha256::Hash(std::span<const uint8_t>(der, static_cast<size_t>(len))));
  OPENSSL_free(der);
  return hex;
}

// Accept any client certificate at the TLS layer: the handshake still proves
// possession of its key, and the HTTP layer authorises by SPKI pin.
int AcceptAnyClientCertificate(int, X509_STORE_CTX*) { return 1; }

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<void> WriteFile(const std::string& path, const std::string& data, unsigned mode) {
  XGW_TRY(auto f, AtomicFile::Create(path, mode));
  XGW_CHECK(f.Write(AsBytes(data)));
  return f.Commit();
}

}  // namespace

Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const TlsConfig& tls) {
  auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(c, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") != 1) {
    return Fail(ErrorCode::kInternal, "openssl refused the built-in cipher configuration");
  }
  if (SSL_CTX_use_certificate_chain_file(c, tls.cert_file.c_str()) != 1) {
    return Fail(ErrorCode::kKey, "cannot load TLS certificate chain " + tls.cert_file +
                                     "; check $.tls.cert_file (PEM)");
  }
  if (SSL_CTX_use_PrivateKey_file(c, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Fail(ErrorCode::kKey,
                "cannot load TLS private key " + tls.key_file + "; check $.tls.key_file (PEM)");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return Fail(ErrorCode::kKey, "TLS private key does not match the certificate");
  }
  if (tls.client_auth == "optional") {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, AcceptAnyClientCertificate);
  } else if (tls.client_auth == "require") {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       AcceptAnyClientCertificate);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  static const unsigned char kSessionContext[] = "xgwd";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

int64_t CertificateNotAfter(boost::asio::ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (!cert) return 0;
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  std::tm tm{};
  if (!not_after || ASN1_TIME_to_tm(not_after, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

Result<std::string> CreateSelfSignedCertificate(const std::string& cert_path,
                                                const std::string& key_path, int days) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Fail(ErrorCode::kInternal, "cannot generate an ECDSA P-256 key");
  X509Ptr cert(X509_new());
  if (!cert) return Fail(ErrorCode::kInternal, "out of memory");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Fail(ErrorCode::kInternal, "no randomness");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("xgwd local"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);

  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> exts[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
      {NID_subject_key_identifier, "hash"},
  };
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) return Fail(ErrorCode::kInternal, "cannot build a certificate extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Fail(ErrorCode::kInternal, "cannot sign the certificate");
  }

  BioPtr kbio(BIO_new(BIO_s_mem()));
  BioPtr cbio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(kbio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cbio.get(), cert.get()) != 1) {
    return Fail(ErrorCode::kInternal, "cannot encode the certificate or key as PEM");
  }
  std::string key_pem = BioToString(kbio.get());
  auto wrote = WriteFile(key_path, key_pem, 0600);
  WipeMemory(key_pem.data(), key_pem.size());
  XGW_CHECK(wrote);
  XGW_CHECK(WriteFile(cert_path, BioToString(cbio.get()), 0644));
  return "sha256:" + SpkiHex(cert.get());
}

std::optional<std::string> PeerSpkiPin(SSL* ssl) {
  X509Ptr cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return std::nullopt;
  std::string pin = SpkiHex(cert.get());
  if (pin.empty()) return std::nullopt;
  return pin;
}

Result<std::string> CertificateFilePin(const std::string& cert_path) {
  FILE* f = std::fopen(cert_path.c_str(), "rb");
  if (!f) return tl::unexpected<Error>(IoError("open", cert_path, errno));
  X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert) return Fail(ErrorCode::kKey, "not a PEM certificate: " + cert_path);
  return "sha256:" + SpkiHex(cert.get());
}

}  // namespace xgw

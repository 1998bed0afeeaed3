#!/usr/bin/python3
"""A small OpenID Connect provider for xgw's single sign-on tests.

It serves what a real provider serves, over real TLS on loopback with a test
CA of its own: the discovery document, a JWKS, the authorization endpoint
(which approves one configured test user at once and redirects with code and
state) and the token endpoint (code, PKCE S256 verifier and client
authentication checked; REAL RS256 or ES256 ID tokens signed with
python3-cryptography). The gateway's verification code cannot tell it from a
real provider.

A test may tell it to misbehave for the next ID tokens (POST /control, JSON):
  {"mode": "ok" | "wrong_aud" | "wrong_iss" | "expired" | "bad_signature" |
            "nonce_mismatch" | "alg_none" | "unknown_kid" | "hs256" | "multi_aud_no_azp",
   "alg": "RS256" | "ES256",           key type of the ID tokens
   "claims": {...},                     the test user's claims (sub, email, ...)
   "rotate": true,                      new keys; the old ones leave the JWKS
   "sign_with_old": true,               after a rotation, keep signing with a removed key
   "jwks_max_age": N}                   Cache-Control max-age of the JWKS
GET /stats answers counters (JWKS fetches, token requests).

Usage: provider.py --dir DIR --client-id ID --client-secret-file FILE
                   [--redirect-prefix https://127.0.0.1:] [--claims JSON]
Writes DIR/ca.crt and, once listening, DIR/port. Only ever binds 127.0.0.1.
Nothing secret is logged.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
import ipaddress


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int, length: int = 0) -> bytes:
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


class Key:
    def __init__(self, alg: str, kid: str):
        self.alg, self.kid = alg, kid
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        pub = self.private.public_key().public_numbers()
        if self.alg == "RS256":
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64u(int_bytes(pub.n)), "e": b64u(int_bytes(pub.e))}
        return {"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": b64u(int_bytes(pub.x, 32)), "y": b64u(int_bytes(pub.y, 32))}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        if self.alg == "RS256":
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return int_bytes(r, 32) + int_bytes(s, 32)


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.client_id = args.client_id
        with open(args.client_secret_file, "rb") as f:
            self.client_secret = f.read().strip().decode()
        self.redirect_prefix = args.redirect_prefix
        self.claims = json.loads(args.claims)
        self.mode = "ok"
        self.alg = "RS256"
        self.generation = 1
        self.keys = self.new_keys()
        self.old_keys = {}
        self.sign_with_old = False
        self.ghost = {"RS256": Key("RS256", "ghost-rs"), "ES256": Key("ES256", "ghost-es")}
        self.jwks_max_age = 300
        self.codes = {}
        self.stats = {"jwks_fetches": 0, "token_requests": 0, "authorize_requests": 0}
        self.issuer = ""

    def new_keys(self):
        g = self.generation
        return {"RS256": Key("RS256", f"rsa-{g}"), "ES256": Key("ES256", f"ec-{g}")}


def make_tls(directory: str) -> ssl.SSLContext:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xgw test OIDC CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(directory, "ca.crt"), "wb") as f:
        f.write(pem(ca))
    with open(os.path.join(directory, "server.pem"), "wb") as f:
        f.write(pem(cert))
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(directory, "server.pem"))
    return ctx


def id_token(st: State, nonce: str) -> str:
    now = int(time.time())
    claims = dict(st.claims)
    claims.update({"iss": st.issuer, "aud": st.client_id, "iat": now, "exp": now + 300, "nonce": nonce})
    mode = st.mode
    if mode == "wrong_aud":
        claims["aud"] = "some-other-client"
    elif mode == "wrong_iss":
        claims["iss"] = st.issuer + "/other"
    elif mode == "expired":
        claims["iat"], claims["exp"] = now - 900, now - 600
    elif mode == "nonce_mismatch":
        claims["nonce"] = b64u(secrets.token_bytes(32))
    elif mode == "multi_aud_no_azp":
        claims["aud"] = [st.client_id, "another-api"]
    key = st.keys[st.alg]
    if st.sign_with_old and st.alg in st.old_keys:
        key = st.old_keys[st.alg]
    if mode == "unknown_kid":
        key = st.ghost[st.alg]
    header = {"alg": st.alg, "kid": key.kid, "typ": "JWT"}
    if mode == "alg_none":
        header = {"alg": "none", "typ": "JWT"}
    if mode == "hs256":
        header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
    if mode == "alg_none":
        return signing_input.decode() + "."
    if mode == "hs256":  # the confusion attack: HMAC keyed with the public key
        mac = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
        return signing_input.decode() + "." + b64u(mac)
    sig = key.sign(signing_input)
    if mode == "bad_signature":
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    return signing_input.decode() + "." + b64u(sig)


class Handler(BaseHTTPRequestHandler):
    server_version = "xgw-test-oidc"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # no URLs (codes, states) in logs
        pass

    def answer(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st: State = self.server.state
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/.well-known/openid-configuration":
            i = st.issuer
            return self.answer(200, {
                "issuer": i, "authorization_endpoint": i + "/authorize", "token_endpoint": i + "/token",
                "jwks_uri": i + "/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
        if url.path == "/jwks":
            with st.lock:
                st.stats["jwks_fetches"] += 1
                keys = [k.jwk() for k in st.keys.values()]
                max_age = st.jwks_max_age
            return self.answer(200, {"keys": keys}, {"Cache-Control": f"public, max-age={max_age}"})
        if url.path == "/stats":
            with st.lock:
                return self.answer(200, dict(st.stats))
        if url.path == "/authorize":
            return self.authorize(st, urllib.parse.parse_qs(url.query))
        return self.answer(404, {"error": "not_found"})

    def authorize(self, st: State, q):
        one = lambda k: q.get(k, [""])[0] if len(q.get(k, [])) <= 1 else None
        with st.lock:
            st.stats["authorize_requests"] += 1
        redirect = one("redirect_uri")
        if one("client_id") != st.client_id or not redirect or not redirect.startswith(st.redirect_prefix):
            return self.answer(400, {"error": "invalid_request", "error_description": "client or redirect_uri"})
        if (one("response_type") != "code" or "openid" not in (one("scope") or "").split()
                or one("code_challenge_method") != "S256" or not one("code_challenge") or not one("state")):
            return self.answer(400, {"error": "invalid_request", "error_description": "code flow with PKCE S256"})
        code = b64u(secrets.token_bytes(24))
        with st.lock:
            st.codes[code] = {"nonce": one("nonce") or "", "challenge": one("code_challenge"),
                              "redirect_uri": redirect, "expires": time.time() + 120, "used": False}
        sep = "&" if "?" in redirect else "?"
        location = redirect + sep + urllib.parse.urlencode({"code": code, "state": one("state")})
        return self.answer(302, None, {"Location": location})

    def do_POST(self):
        st: State = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            return self.answer(413, {"error": "too_large"})
        body = self.rfile.read(length)
        if self.path == "/control":
            return self.control(st, json.loads(body or b"{}"))
        if self.path == "/token":
            return self.token(st, urllib.parse.parse_qs(body.decode(), keep_blank_values=True))
        return self.answer(404, {"error": "not_found"})

    def control(self, st: State, c):
        with st.lock:
            if "mode" in c:
                st.mode = c["mode"]
            if "alg" in c:
                st.alg = c["alg"]
            if "claims" in c:
                st.claims = c["claims"]
            if "jwks_max_age" in c:
                st.jwks_max_age = int(c["jwks_max_age"])
            if c.get("rotate"):
                st.old_keys = st.keys
                st.generation += 1
                st.keys = st.new_keys()
            if "sign_with_old" in c:
                st.sign_with_old = bool(c["sign_with_old"])
        return self.answer(200, {"ok": True})

    def client_authenticated(self, st: State, form) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return False
            user, password = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
        else:
            user, password = form.get("client_id", [""])[0], form.get("client_secret", [""])[0]
        return hmac.compare_digest(user, st.client_id) and hmac.compare_digest(password, st.client_secret)

    def token(self, st: State, form):
        with st.lock:
            st.stats["token_requests"] += 1
        if not self.client_authenticated(st, form):
            return self.answer(401, {"error": "invalid_client"})
        one = lambda k: form.get(k, [""])[0]
        if one("grant_type") != "authorization_code":
            return self.answer(400, {"error": "unsupported_grant_type"})
        with st.lock:
            entry = st.codes.get(one("code"))
            if not entry or entry["used"] or entry["expires"] < time.time():
                return self.answer(400, {"error": "invalid_grant"})
            entry["used"] = True
        if entry["redirect_uri"] != one("redirect_uri"):
            return self.answer(400, {"error": "invalid_grant", "error_description": "redirect_uri"})
        verifier = one("code_verifier")
        if not verifier or b64u(hashlib.sha256(verifier.encode()).digest()) != entry["challenge"]:
            return self.answer(400, {"error": "invalid_grant", "error_description": "pkce"})
        with st.lock:
            token = id_token(st, entry["nonce"])
        return self.answer(200, {"access_token": b64u(secrets.token_bytes(24)), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": token},
                           {"Cache-Control": "no-store"})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret-file", required=True)
    p.add_argument("--redirect-prefix", default="https://127.0.0.1:")
    p.add_argument("--claims", default='{"sub": "test-user"}')
    p.add_argument("--lifetime-seconds", type=int, default=900)
    args = p.parse_args()
    ctx = make_tls(args.dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.state = State(args)
    port = server.server_address[1]
    server.state.issuer = f"https://127.0.0.1:{port}"
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, os.path.join(args.dir, "port"))
    # Stops by itself, so that a test that dies leaves nothing running.
    threading.Timer(args.lifetime_seconds, server.shutdown).start()
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()

//! Authentication to the EPD: SMART Backend Services (OAuth 2.0 client credentials with a
//! `private_key_jwt` client assertion signed RS384 or ES384, the access token cached until
//! shortly before it expires) or a bearer token read from a file.
//!
//! The JWS is three base64url parts joined by dots; it is written here with `ring` (already
//! in the tree through rustls) rather than a JWT crate: signing one fixed claim set needs
//! no parser. Secrets (the key's PEM, the tokens) are zeroised when dropped and never
//! logged; errors name files and HTTP statuses, never a token.

use super::config::{AuthConfig, JwtAlg, SmartConfig};
use super::http::{Http, HttpError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bytes::Bytes;
use chrono::Utc;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{self, KeyPair as _};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Largest key or token file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;
/// Lifetime of a client assertion (SMART: at most five minutes).
const ASSERTION_LIFETIME_S: i64 = 300;
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Token lifetime assumed when the server names none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// Largest token or discovery response read.
const MAX_AUTH_RESPONSE: u64 = 64 * 1024;

/// Why the publisher could not authenticate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} has mode {mode:04o}, readable by group or others; refusing to use it (chmod 600)"
    )]
    Insecure { path: PathBuf, mode: u32 },
    #[error("{path}: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("{path} is empty or not one token line")]
    BadToken { path: PathBuf },
    #[error("SMART discovery at {url} failed: {reason}")]
    Discovery { url: String, reason: String },
    #[error(
        "the token endpoint {url} answered HTTP {status}{detail}: check the client id, the \
         registered public key (noodepd-publisher jwks) and the scope"
    )]
    Refused {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the token endpoint {url} cannot be reached: {source}")]
    Http { url: String, source: HttpError },
    #[error("the token endpoint {url} answered without a usable access_token")]
    NoToken { url: String },
    #[error("cannot sign the client assertion (the system's random generator or the key failed)")]
    Sign,
}

/// Reads a secret file (bounded, owner-only), zeroised on drop.
fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, AuthError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let err = |source| AuthError::Read {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mode = f.metadata().map_err(err)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(AuthError::Insecure {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_SECRET_FILE).read_to_end(&mut buf).map_err(err)?;
    Ok(buf)
}

/// The client's signing key.
enum SigningKey {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
}

/// A SMART client key loaded from PEM (PKCS#8; RSA also as PKCS#1).
pub(crate) struct ClientKey {
    key: SigningKey,
    alg: JwtAlg,
    rng: SystemRandom,
}

impl ClientKey {
    /// Loads and checks the key for `alg` from a PEM file.
    pub(crate) fn load(path: &Path, alg: JwtAlg) -> Result<ClientKey, AuthError> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject as _;
        let bad = |reason: String| AuthError::BadKey {
            path: path.to_owned(),
            reason,
        };
        let pem = read_secret(path)?;
        let der = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|e| bad(format!("not a PEM private key ({e})")))?;
        let rng = SystemRandom::new();
        let key = match (alg, &der) {
            (JwtAlg::Rs384, PrivateKeyDer::Pkcs8(k)) => SigningKey::Rsa(
                signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
                    .map_err(|e| bad(format!("not a usable RSA key for RS384 ({e})")))?,
            ),
            (JwtAlg::Rs384, PrivateKeyDer::Pkcs1(k)) => SigningKey::Rsa(
                signature::RsaKeyPair::from_der(k.secret_pkcs1_der())
                    .map_err(|e| bad(format!("not a usable RSA key for RS384 ({e})")))?,
            ),
            (JwtAlg::Es384, PrivateKeyDer::Pkcs8(k)) => SigningKey::Ec(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    k.secret_pkcs8_der(),
                    &rng,
                )
                .map_err(|e| bad(format!("not a P-384 key for ES384 ({e})")))?,
            ),
            (JwtAlg::Es384, PrivateKeyDer::Sec1(_)) => {
                return Err(bad(
                    "an EC key in SEC1 form; convert it to PKCS#8: openssl pkcs8 -topk8 \
                     -nocrypt -in KEY -out KEY.p8"
                        .into(),
                ));
            }
            (alg, _) => {
                return Err(bad(format!(
                    "not a key for {} (RSA for RS384, P-384 for ES384)",
                    alg.name()
                )));
            }
        };
        Ok(ClientKey { key, alg, rng })
    }

    /// The public key as a JWK (with `alg`, `use` and `kid`), for registration at the EPD.
    pub(crate) fn public_jwk(&self, kid: Option<&str>) -> serde_json::Value {
        let mut jwk = self.thumbprint_members();
        let kid = kid.map_or_else(|| self.thumbprint(), str::to_owned);
        if let Some(o) = jwk.as_object_mut() {
            o.insert("alg".into(), self.alg.name().into());
            o.insert("use".into(), "sig".into());
            o.insert("key_ops".into(), serde_json::json!(["verify"]));
            o.insert("kid".into(), kid.into());
        }
        jwk
    }

    /// The RFC 7638 members, in the order the thumbprint hashes them.
    fn thumbprint_members(&self) -> serde_json::Value {
        match &self.key {
            SigningKey::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                serde_json::json!({"e": B64URL.encode(&c.e), "kty": "RSA", "n": B64URL.encode(&c.n)})
            }
            SigningKey::Ec(k) => {
                // Uncompressed point: 0x04 || X (48 bytes) || Y (48 bytes).
                let p = k.public_key().as_ref();
                let (x, y) = p
                    .get(1..)
                    .map_or((&[][..], &[][..]), |xy| xy.split_at(xy.len() / 2));
                serde_json::json!({"crv": "P-384", "kty": "EC", "x": B64URL.encode(x), "y": B64URL.encode(y)})
            }
        }
    }

    /// The RFC 7638 JWK thumbprint (the default `kid`).
    pub(crate) fn thumbprint(&self) -> String {
        use sha2::Digest as _;
        // serde_json keeps keys sorted (no preserve_order feature), as RFC 7638 requires.
        let canonical = self.thumbprint_members().to_string();
        B64URL.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A signed JWT (compact JWS) over `claims`.
    pub(crate) fn sign_jwt(
        &self,
        kid: &str,
        claims: &serde_json::Value,
    ) -> Result<String, AuthError> {
        let header = serde_json::json!({"alg": self.alg.name(), "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let sig = match &self.key {
            SigningKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA384,
                    &self.rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| AuthError::Sign)?;
                sig
            }
            SigningKey::Ec(k) => k
                .sign(&self.rng, input.as_bytes())
                .map_err(|_| AuthError::Sign)?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", B64URL.encode(sig)))
    }

    fn jti(&self) -> Result<String, AuthError> {
        let mut b = [0u8; 16];
        self.rng.fill(&mut b).map_err(|_| AuthError::Sign)?;
        Ok(b.iter().map(|x| format!("{x:02x}")).collect())
    }
}

/// A cached access token.
struct Token {
    value: Zeroizing<String>,
    renew_at: Instant,
}

/// The SMART client state: key, endpoint (discovered once), cached token.
struct Smart {
    cfg: SmartConfig,
    key: ClientKey,
    kid: String,
    token_url: tokio::sync::Mutex<Option<String>>,
    token: tokio::sync::Mutex<Option<Token>>,
}

/// A bearer token file, reread when it changes (rotated by another tool).
struct BearerFile {
    path: PathBuf,
    cached: std::sync::Mutex<Option<(std::time::SystemTime, Zeroizing<String>)>>,
}

/// How requests to one source are authorised.
pub(crate) struct Auth(AuthKind);

enum AuthKind {
    None,
    Bearer(BearerFile),
    Smart(Box<Smart>),
}

impl Auth {
    /// Loads the key or checks the token file now, so a bad one is reported at start.
    pub(crate) fn new(cfg: &AuthConfig) -> Result<Auth, AuthError> {
        Ok(Auth(match cfg {
            AuthConfig::None => AuthKind::None,
            AuthConfig::Bearer { token_file } => {
                let b = BearerFile {
                    path: token_file.clone(),
                    cached: std::sync::Mutex::new(None),
                };
                b.token()?;
                AuthKind::Bearer(b)
            }
            AuthConfig::Smart(s) => {
                let key = ClientKey::load(&s.key, s.alg)?;
                let kid = s.kid.clone().unwrap_or_else(|| key.thumbprint());
                AuthKind::Smart(Box::new(Smart {
                    cfg: s.clone(),
                    key,
                    kid,
                    token_url: tokio::sync::Mutex::new(s.token_url.clone()),
                    token: tokio::sync::Mutex::new(None),
                }))
            }
        }))
    }

    /// The `Authorization` header value for the next request, if any.
    pub(crate) async fn header(
        &self,
        http: &Http,
        base: &str,
    ) -> Result<Option<Zeroizing<String>>, AuthError> {
        match &self.0 {
            AuthKind::None => Ok(None),
            AuthKind::Bearer(b) => Ok(Some(Zeroizing::new(format!(
                "Bearer {}",
                b.token()?.as_str()
            )))),
            AuthKind::Smart(s) => {
                let t = s.token(http, base).await?;
                Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))))
            }
        }
    }

    /// Forgets a cached token (after a 401), so the next request gets a new one.
    pub(crate) async fn invalidate(&self) {
        if let AuthKind::Smart(s) = &self.0 {
            *s.token.lock().await = None;
        }
    }
}

impl BearerFile {
    fn token(&self) -> Result<Zeroizing<String>, AuthError> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|source| AuthError::Read {
                path: self.path.clone(),
                source,
            })?;
        let mut cached = match self.cached.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((t, v)) = cached.as_ref()
            && *t == mtime
        {
            return Ok(v.clone());
        }
        let bytes = read_secret(&self.path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| AuthError::BadToken {
            path: self.path.clone(),
        })?;
        let token = text.trim();
        if token.is_empty()
            || token.lines().count() != 1
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(AuthError::BadToken {
                path: self.path.clone(),
            });
        }
        let v = Zeroizing::new(token.to_owned());
        *cached = Some((mtime, v.clone()));
        Ok(v)
    }
}

#[derive(Deserialize)]
struct SmartConfiguration {
    token_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
}

impl Smart {
    async fn endpoint(&self, http: &Http, base: &str) -> Result<String, AuthError> {
        let mut url = self.token_url.lock().await;
        if let Some(u) = url.as_ref() {
            return Ok(u.clone());
        }
        let well_known = format!("{base}/.well-known/smart-configuration");
        let disc = |reason: String| AuthError::Discovery {
            url: well_known.clone(),
            reason,
        };
        let resp = http
            .send(
                hyper::Method::GET,
                &well_known,
                &[("accept", "application/json")],
                Bytes::new(),
                MAX_AUTH_RESPONSE,
            )
            .await
            .map_err(|e| disc(e.to_string()))?;
        if resp.status != 200 {
            return Err(disc(format!("HTTP {}", resp.status)));
        }
        let c: SmartConfiguration =
            serde_json::from_slice(&resp.body).map_err(|e| disc(crate::jsonerr::describe(&e)))?;
        let ep = c
            .token_endpoint
            .ok_or_else(|| disc("no token_endpoint".into()))?;
        let ep = super::config::check_base_url(&ep).map_err(disc)?;
        if base.starts_with("https://") && !ep.starts_with("https://") {
            return Err(disc(format!("token endpoint {ep} is not https")));
        }
        *url = Some(ep.clone());
        Ok(ep)
    }

    async fn token(&self, http: &Http, base: &str) -> Result<Zeroizing<String>, AuthError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let url = self.endpoint(http, base).await?;
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": self.cfg.client_id,
            "sub": self.cfg.client_id,
            "aud": url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": self.key.jti()?,
        });
        let assertion = Zeroizing::new(self.key.sign_jwt(&self.kid, &claims)?);
        let form = Zeroizing::new(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("scope", &self.cfg.scope)
                .append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .append_pair("client_assertion", &assertion)
                .finish(),
        );
        let asked = Instant::now();
        let resp = http
            .send(
                hyper::Method::POST,
                &url,
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("accept", "application/json"),
                ],
                Bytes::copy_from_slice(form.as_bytes()),
                MAX_AUTH_RESPONSE,
            )
            .await
            .map_err(|source| AuthError::Http {
                url: url.clone(),
                source,
            })?;
        if resp.status != 200 {
            // The OAuth error code is a fixed word; the description may quote input: left out.
            let detail = serde_json::from_slice::<OAuthError>(&resp.body)
                .ok()
                .and_then(|e| e.error)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            return Err(AuthError::Refused {
                url,
                status: resp.status,
                detail,
            });
        }
        let t: TokenResponse = serde_json::from_slice(&resp.body)
            .map_err(|_| AuthError::NoToken { url: url.clone() })?;
        let value = Zeroizing::new(
            t.access_token
                .filter(|a| {
                    !a.is_empty() && a.len() <= 16 * 1024 && a.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or(AuthError::NoToken { url })?,
        );
        let lifetime = t
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let renew_at = asked
            + lifetime
                .saturating_sub(RENEW_BEFORE)
                .max(Duration::from_secs(5).min(lifetime));
        *cached = Some(Token {
            value: value.clone(),
            renew_at,
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    const RSA_PKCS8: &str = include_str!("../../tests/fixtures/publisher/smart-client-rs384.pem");

    fn ec_pkcs8_pem() -> String {
        let rng = SystemRandom::new();
        let doc = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    }

    fn write_key(dir: &Path, name: &str, pem: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn verify(jwt: &str, jwk: &serde_json::Value) -> serde_json::Value {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let input = format!("{}.{}", parts[0], parts[1]);
        let sig = B64URL.decode(parts[2]).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
        match header["alg"].as_str().unwrap() {
            "RS384" => {
                let n = B64URL.decode(jwk["n"].as_str().unwrap()).unwrap();
                let e = B64URL.decode(jwk["e"].as_str().unwrap()).unwrap();
                signature::RsaPublicKeyComponents { n, e }
                    .verify(
                        &signature::RSA_PKCS1_2048_8192_SHA384,
                        input.as_bytes(),
                        &sig,
                    )
                    .unwrap();
            }
            "ES384" => {
                let mut point = vec![4u8];
                point.extend(B64URL.decode(jwk["x"].as_str().unwrap()).unwrap());
                point.extend(B64URL.decode(jwk["y"].as_str().unwrap()).unwrap());
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(input.as_bytes(), &sig)
                    .unwrap();
            }
            other => panic!("{other}"),
        }
        assert_eq!(header["kid"], jwk["kid"]);
        serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap()
    }

    #[test]
    fn client_assertions_verify_with_the_published_jwk_rs384_and_es384() {
        let dir = tempfile::tempdir().unwrap();
        for (pem, alg) in [
            (RSA_PKCS8.to_owned(), JwtAlg::Rs384),
            (ec_pkcs8_pem(), JwtAlg::Es384),
        ] {
            let path = write_key(dir.path(), alg.name(), &pem, 0o600);
            let key = ClientKey::load(&path, alg).unwrap();
            let jwk = key.public_jwk(None);
            assert_eq!(jwk["alg"], alg.name());
            let claims = serde_json::json!({"iss": "c", "jti": key.jti().unwrap()});
            let jwt = key.sign_jwt(&key.thumbprint(), &claims).unwrap();
            assert_eq!(verify(&jwt, &jwk)["iss"], "c");
        }
    }

    #[test]
    fn refuses_keys_others_can_read_or_of_the_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let open = write_key(dir.path(), "open.pem", RSA_PKCS8, 0o644);
        assert!(matches!(
            ClientKey::load(&open, JwtAlg::Rs384),
            Err(AuthError::Insecure { .. })
        ));
        let rsa = write_key(dir.path(), "rsa.pem", RSA_PKCS8, 0o600);
        let e = ClientKey::load(&rsa, JwtAlg::Es384)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("ES384"), "{e}");
        let junk = write_key(dir.path(), "junk.pem", "hello", 0o600);
        assert!(ClientKey::load(&junk, JwtAlg::Rs384).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1: the example RSA key's thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = serde_json::json!({"e": "AQAB", "kty": "RSA", "n": n});
        use sha2::Digest as _;
        let tp = B64URL.encode(sha2::Sha256::digest(members.to_string().as_bytes()));
        assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn bearer_file_is_reread_when_it_changes_and_must_be_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_key(dir.path(), "token", "abc\n", 0o600);
        let b = BearerFile {
            path: p.clone(),
            cached: std::sync::Mutex::new(None),
        };
        assert_eq!(b.token().unwrap().as_str(), "abc");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&p, "def\n").unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(b.token().unwrap().as_str(), "def");
        std::fs::write(&p, "a b\n").unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
            .unwrap();
        assert!(matches!(b.token(), Err(AuthError::BadToken { .. })));
    }
}

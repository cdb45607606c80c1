//! Key files: the publisher's Ed25519 signing key and each appliance's X25519 decryption
//! key, their one-line text files, key ids and human-comparable fingerprints.
//!
//! File formats (one line each, UTF-8, a single trailing newline):
//! - `publisher.key`: `noodepd-publisher-secret-v1 <base64 32-byte Ed25519 seed>` (mode 0600)
//! - `publisher.pub`: `noodepd-publisher-v1 <base64 32-byte Ed25519 public key> [comment]`
//! - `appliance.key`: `noodepd-appliance-secret-v1 <base64 32-byte X25519 secret>` (mode 0600)
//! - `appliance.pub`: `noodepd-appliance-v1 <base64 32-byte X25519 public key> [comment]`
//! - `release.key`: `noodepd-release-secret-v1 <base64 32-byte Ed25519 seed>` (mode 0600)
//! - `release.pub`: `noodepd-release-v1 <base64 32-byte Ed25519 public key> [comment]`
//!   (signs image update bundles, `update`; pinned in the image)
//!
//! The type tag makes it impossible to load one kind of key as another. Secret key files
//! are created with `O_EXCL` and mode 0600 and are refused when group or others may read
//! them. Secrets are zeroised on drop and never printed (their `Debug` is redacted).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Largest key file read (a key line is under 200 bytes; comments are bounded).
const MAX_KEY_FILE: u64 = 4096;
/// Longest comment accepted on a public key line.
const MAX_COMMENT: usize = 200;

/// The four kinds of key file, each with its own type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFileType {
    PublisherSecret,
    PublisherPublic,
    ApplianceSecret,
    AppliancePublic,
    ReleaseSecret,
    ReleasePublic,
}

impl KeyFileType {
    const ALL: [KeyFileType; 6] = [
        KeyFileType::PublisherSecret,
        KeyFileType::PublisherPublic,
        KeyFileType::ApplianceSecret,
        KeyFileType::AppliancePublic,
        KeyFileType::ReleaseSecret,
        KeyFileType::ReleasePublic,
    ];

    /// The type tag that starts the file's line.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            KeyFileType::PublisherSecret => "noodepd-publisher-secret-v1",
            KeyFileType::PublisherPublic => "noodepd-publisher-v1",
            KeyFileType::ApplianceSecret => "noodepd-appliance-secret-v1",
            KeyFileType::AppliancePublic => "noodepd-appliance-v1",
            KeyFileType::ReleaseSecret => "noodepd-release-secret-v1",
            KeyFileType::ReleasePublic => "noodepd-release-v1",
        }
    }

    /// What people call it, for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            KeyFileType::PublisherSecret => "a publisher secret (signing) key",
            KeyFileType::PublisherPublic => "a publisher public key",
            KeyFileType::ApplianceSecret => "an appliance secret (decryption) key",
            KeyFileType::AppliancePublic => "an appliance public key",
            KeyFileType::ReleaseSecret => "a release secret (image signing) key",
            KeyFileType::ReleasePublic => "a release public key",
        }
    }

    fn is_secret(self) -> bool {
        matches!(
            self,
            KeyFileType::PublisherSecret
                | KeyFileType::ApplianceSecret
                | KeyFileType::ReleaseSecret
        )
    }

    fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.tag() == tag)
    }
}

/// Which key pair to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519: signs snapshots (kept by the hospital's export job).
    Publisher,
    /// X25519: decrypts snapshots (made on and kept by one ward appliance).
    Appliance,
    /// Ed25519: signs image update bundles (kept offline by the release engineer; its
    /// public half is built into the image).
    Release,
}

impl KeyKind {
    /// File stem: `publisher` or `appliance`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyKind::Publisher => "publisher",
            KeyKind::Appliance => "appliance",
            KeyKind::Release => "release",
        }
    }
}

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path is not a regular file.
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file is larger than any key file.
    #[error("{path}: larger than {MAX_KEY_FILE} bytes, not a key file")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file holds another kind of key (e.g. a publisher key where the appliance key belongs).
    #[error("{path}: this is {found}, but {expected} is needed here")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The kind needed here.
        expected: &'static str,
        /// The kind the file's tag says.
        found: &'static str,
    },
    /// A secret key file is readable by group or others; it is not used.
    #[error(
        "{path}: secret key file has mode {mode:04o}, readable by group or others; \
         refusing to use it (fix with: chmod 600 {path})"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a noodepd key file (tag, encoding or length).
    #[error("{path}: not a noodepd key file ({reason})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key file is in the way; keys are never overwritten without `--force`.
    #[error("{path}: already exists; refusing to overwrite a key (use --force to replace it)")]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// A key's id: the first 8 bytes of SHA-256 over the raw 32-byte public key.
/// `Display` gives 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of a raw public key.
    pub(crate) fn of_public_key(raw: &[u8; 32]) -> KeyId {
        let digest = Sha256::digest(raw);
        let mut id = [0u8; 8];
        for (dst, src) in id.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
        KeyId(id)
    }

    /// The short human-comparable form, e.g. `3f2a-9c01-77de-b410`.
    pub(crate) fn fingerprint(&self) -> String {
        let hex = self.to_string();
        let mut out = String::with_capacity(19);
        for (i, c) in hex.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

fn random_32() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// The publisher's Ed25519 signing key (zeroised on drop).
pub struct PublisherSecret(ed25519_dalek::SigningKey);

/// The publisher's Ed25519 public key, trusted by appliances.
#[derive(Clone, PartialEq, Eq)]
pub struct PublisherPublic(ed25519_dalek::VerifyingKey);

/// An appliance's X25519 secret key (zeroised on drop).
pub struct ApplianceSecret(x25519_dalek::StaticSecret);

/// An appliance's X25519 public key: what publishers encrypt to.
#[derive(Clone, PartialEq, Eq)]
pub struct AppliancePublic(x25519_dalek::PublicKey);

impl fmt::Debug for PublisherSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublisherSecret(<redacted> of {})",
            self.public().key_id()
        )
    }
}

impl fmt::Debug for ApplianceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ApplianceSecret(<redacted> of {})",
            self.public().key_id()
        )
    }
}

impl fmt::Debug for PublisherPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherPublic({})", self.key_id())
    }
}

impl fmt::Debug for AppliancePublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppliancePublic({})", self.key_id())
    }
}

impl PublisherSecret {
    /// A fresh key from the operating system's random generator.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        let seed = random_32()?;
        Ok(Self::from_bytes(&seed))
    }

    /// A key from its 32-byte seed (tests and deterministic tooling).
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        PublisherSecret(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublisherPublic {
        PublisherPublic(self.0.verifying_key())
    }

    /// The id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public().key_id()
    }

    /// Reads a `publisher.key` file (must be mode 0600 or stricter).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::PublisherSecret)?;
        Ok(Self::from_bytes(&raw.bytes))
    }

    /// The secret key file's line. Handle with care: it is the secret.
    fn to_secret_line(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        Zeroizing::new(format!(
            "{} {}\n",
            KeyFileType::PublisherSecret.tag(),
            B64.encode(seed.as_ref())
        ))
    }

    /// Signs a message (Ed25519, RFC 8032 pure).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.0.sign(message).to_bytes()
    }
}

impl PublisherPublic {
    /// A public key from its raw 32 bytes; refuses invalid and weak (small-order) keys.
    pub(crate) fn from_bytes(raw: &[u8; 32]) -> Option<Self> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(raw).ok()?;
        (!key.is_weak()).then_some(PublisherPublic(key))
    }

    /// Reads a `publisher.pub` file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::PublisherPublic)?;
        Self::from_bytes(&raw.bytes).ok_or(KeyError::Malformed {
            path: path.to_owned(),
            reason: "not a valid Ed25519 public key",
        })
    }

    /// The public key file's line (without newline).
    pub(crate) fn to_line(&self) -> String {
        format!(
            "{} {}",
            KeyFileType::PublisherPublic.tag(),
            B64.encode(self.0.as_bytes())
        )
    }

    /// The key id.
    pub(crate) fn key_id(&self) -> KeyId {
        KeyId::of_public_key(self.0.as_bytes())
    }

    /// The short fingerprint people compare by eye.
    pub fn fingerprint(&self) -> String {
        self.key_id().fingerprint()
    }

    /// Verifies an Ed25519 signature strictly (no malleable or small-order forms).
    pub(crate) fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl ApplianceSecret {
    /// A fresh key from the operating system's random generator.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        let bytes = random_32()?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A key from its 32 secret bytes (tests and deterministic tooling).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        ApplianceSecret(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// The matching public key.
    pub fn public(&self) -> AppliancePublic {
        AppliancePublic(x25519_dalek::PublicKey::from(&self.0))
    }

    /// The id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public().key_id()
    }

    /// Reads an `appliance.key` file (must be mode 0600 or stricter).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::ApplianceSecret)?;
        Ok(Self::from_bytes(&raw.bytes))
    }

    fn to_secret_line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{} {}\n",
            KeyFileType::ApplianceSecret.tag(),
            B64.encode(self.0.as_bytes())
        ))
    }

    /// X25519 with a peer's public key.
    pub(crate) fn diffie_hellman(
        &self,
        peer: &x25519_dalek::PublicKey,
    ) -> x25519_dalek::SharedSecret {
        self.0.diffie_hellman(peer)
    }
}

impl AppliancePublic {
    /// A public key from its raw 32 bytes.
    pub fn from_bytes(raw: &[u8; 32]) -> Self {
        AppliancePublic(x25519_dalek::PublicKey::from(*raw))
    }

    /// The raw 32 bytes.
    pub(crate) fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Reads an `appliance.pub` file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::AppliancePublic)?;
        Ok(Self::from_bytes(&raw.bytes))
    }

    /// The public key file's line (without newline).
    pub(crate) fn to_line(&self) -> String {
        format!(
            "{} {}",
            KeyFileType::AppliancePublic.tag(),
            B64.encode(self.0.as_bytes())
        )
    }

    /// The key id.
    pub(crate) fn key_id(&self) -> KeyId {
        KeyId::of_public_key(self.0.as_bytes())
    }

    /// The short fingerprint people compare by eye.
    pub(crate) fn fingerprint(&self) -> String {
        self.key_id().fingerprint()
    }

    pub(crate) fn x25519(&self) -> &x25519_dalek::PublicKey {
        &self.0
    }
}

/// The release engineer's Ed25519 key that signs image update bundles (zeroised on drop).
pub(crate) struct ReleaseSecret(ed25519_dalek::SigningKey);

/// The release public key pinned in the image: only bundles it verifies are installed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ReleasePublic(ed25519_dalek::VerifyingKey);

impl fmt::Debug for ReleaseSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReleaseSecret(<redacted> of {})", self.public().key_id())
    }
}

impl fmt::Debug for ReleasePublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReleasePublic({})", self.key_id())
    }
}

impl ReleaseSecret {
    /// A fresh key from the operating system's random generator.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        let seed = random_32()?;
        Ok(Self::from_bytes(&seed))
    }

    /// A key from its 32-byte seed (tests and deterministic tooling).
    pub(crate) fn from_bytes(seed: &[u8; 32]) -> Self {
        ReleaseSecret(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub(crate) fn public(&self) -> ReleasePublic {
        ReleasePublic(self.0.verifying_key())
    }

    /// The id of the matching public key.
    pub(crate) fn key_id(&self) -> KeyId {
        self.public().key_id()
    }

    /// Reads a `release.key` file (must be mode 0600 or stricter).
    pub(crate) fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::ReleaseSecret)?;
        Ok(Self::from_bytes(&raw.bytes))
    }

    fn to_secret_line(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        Zeroizing::new(format!(
            "{} {}\n",
            KeyFileType::ReleaseSecret.tag(),
            B64.encode(seed.as_ref())
        ))
    }

    /// Signs a message (Ed25519, RFC 8032 pure).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.0.sign(message).to_bytes()
    }
}

impl ReleasePublic {
    /// A public key from its raw 32 bytes; refuses invalid and weak (small-order) keys.
    pub(crate) fn from_bytes(raw: &[u8; 32]) -> Option<Self> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(raw).ok()?;
        (!key.is_weak()).then_some(ReleasePublic(key))
    }

    /// Reads a `release.pub` file.
    pub(crate) fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(path, KeyFileType::ReleasePublic)?;
        Self::from_bytes(&raw.bytes).ok_or(KeyError::Malformed {
            path: path.to_owned(),
            reason: "not a valid Ed25519 public key",
        })
    }

    /// The public key file's line (without newline).
    pub(crate) fn to_line(&self) -> String {
        format!(
            "{} {}",
            KeyFileType::ReleasePublic.tag(),
            B64.encode(self.0.as_bytes())
        )
    }

    /// The key id.
    pub(crate) fn key_id(&self) -> KeyId {
        KeyId::of_public_key(self.0.as_bytes())
    }

    /// Verifies an Ed25519 signature strictly (no malleable or small-order forms).
    pub(crate) fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

/// What a key file held: its 32 key bytes.
struct RawKey {
    bytes: Zeroizing<[u8; 32]>,
}

/// Reads and strictly parses one key file of the expected type.
fn read_key_file(path: &Path, expected: KeyFileType) -> Result<RawKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    // Check the opened file, not the path, so the checks and the read see the same file.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    (&mut file)
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_KEY_FILE {
        return Err(KeyError::TooLarge {
            path: path.to_owned(),
        });
    }
    let malformed = |reason| KeyError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(&buf).map_err(|_| malformed("not UTF-8 text"))?;
    // One line, optionally ending in one newline (or CRLF).
    let line = text
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(text);
    if line.contains(['\n', '\r']) {
        return Err(malformed("more than one line"));
    }
    let mut fields = line.splitn(3, ' ');
    let tag = fields.next().unwrap_or_default();
    let found = KeyFileType::from_tag(tag).ok_or_else(|| malformed("unknown type tag"))?;
    if found != expected {
        return Err(KeyError::WrongKind {
            path: path.to_owned(),
            expected: expected.describe(),
            found: found.describe(),
        });
    }
    if found.is_secret() {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let b64 = fields
        .next()
        .ok_or_else(|| malformed("no key after the type tag"))?;
    match fields.next() {
        None => {}
        Some(_) if found.is_secret() => return Err(malformed("unexpected text after the key")),
        Some(comment) if comment.len() > MAX_COMMENT || comment.chars().any(char::is_control) => {
            return Err(malformed("comment too long or with control characters"));
        }
        Some(_) => {}
    }
    let decoded = Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| malformed("key is not valid base64"))?,
    );
    let mut bytes = Zeroizing::new([0u8; 32]);
    if decoded.len() != 32 {
        return Err(malformed("key is not 32 bytes"));
    }
    bytes.copy_from_slice(&decoded);
    Ok(RawKey { bytes })
}

/// The files `write_key_pair` wrote.
#[derive(Debug, Clone)]
pub struct WrittenKeyPair {
    /// `DIR/KIND.key` (mode 0600).
    pub secret_path: PathBuf,
    /// `DIR/KIND.pub`.
    pub public_path: PathBuf,
    /// The new public key's id.
    pub key_id: KeyId,
    /// The public key line written.
    pub public_line: String,
}

/// Generates a key pair and writes `DIR/KIND.key` (0600, created exclusively) and
/// `DIR/KIND.pub`. Creates `DIR` (mode 0700) when missing. Refuses to replace existing
/// files unless `force`; with `force` the new files replace the old ones atomically.
pub fn write_key_pair(kind: KeyKind, dir: &Path, force: bool) -> Result<WrittenKeyPair, KeyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, source }
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let secret_path = dir.join(format!("{}.key", kind.name()));
    let public_path = dir.join(format!("{}.pub", kind.name()));
    if !force {
        for p in [&secret_path, &public_path] {
            if p.symlink_metadata().is_ok() {
                return Err(KeyError::AlreadyExists { path: p.clone() });
            }
        }
    }
    let (secret_line, public_line, key_id) = match kind {
        KeyKind::Publisher => {
            let s = PublisherSecret::generate()?;
            (s.to_secret_line(), s.public().to_line(), s.key_id())
        }
        KeyKind::Appliance => {
            let s = ApplianceSecret::generate()?;
            (s.to_secret_line(), s.public().to_line(), s.key_id())
        }
        KeyKind::Release => {
            let s = ReleaseSecret::generate()?;
            (s.to_secret_line(), s.public().to_line(), s.key_id())
        }
    };
    let public_text = format!("{public_line}\n");
    if force {
        replace_file(&secret_path, secret_line.as_bytes(), 0o600)?;
        replace_file(&public_path, public_text.as_bytes(), 0o644)?;
    } else {
        create_exclusive(&secret_path, secret_line.as_bytes(), 0o600)?;
        if let Err(e) = create_exclusive(&public_path, public_text.as_bytes(), 0o644) {
            // Do not leave half a pair behind.
            let _ = std::fs::remove_file(&secret_path);
            return Err(e);
        }
    }
    sync_dir(dir);
    Ok(WrittenKeyPair {
        secret_path,
        public_path,
        key_id,
        public_line,
    })
}

/// Creates `path` with `O_CREAT|O_EXCL` and `mode`, writes and fsyncs it.
fn create_exclusive(path: &Path, content: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
    // The umask can only remove bits, but set the mode explicitly all the same.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(content).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Writes `path` via an exclusive temporary file and a rename (for `--force`).
fn replace_file(path: &Path, content: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // A stale temporary from an interrupted run is ours to remove.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(KeyError::Io { path: tmp, source }),
    }
    create_exclusive(&tmp, content, mode)?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        KeyError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the new directory entries durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_groups_key_id_hex_in_fours() {
        let id = KeyId([0x3f, 0x2a, 0x9c, 0x01, 0x77, 0xde, 0xb4, 0x10]);
        assert_eq!(id.to_string(), "3f2a9c0177deb410");
        assert_eq!(id.fingerprint(), "3f2a-9c01-77de-b410");
    }

    #[test]
    fn key_id_is_sha256_prefix_of_public_key() {
        let s = ApplianceSecret::from_bytes(&[7u8; 32]);
        let raw = s.public().to_bytes();
        let digest = Sha256::digest(raw);
        assert_eq!(&s.key_id().0[..], &digest[..8]);
    }

    #[test]
    fn secret_key_file_round_trips_and_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let w = write_key_pair(KeyKind::Appliance, dir.path(), false).unwrap();
        let mode = std::fs::metadata(&w.secret_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let s = ApplianceSecret::read(&w.secret_path).unwrap();
        let p = AppliancePublic::read(&w.public_path).unwrap();
        assert_eq!(s.public(), p);
        assert_eq!(p.key_id(), w.key_id);
    }

    #[test]
    fn refuses_to_overwrite_keys_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_key_pair(KeyKind::Publisher, dir.path(), false).unwrap();
        let err = write_key_pair(KeyKind::Publisher, dir.path(), false).unwrap_err();
        assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err}");
        let again = PublisherSecret::read(&first.secret_path).unwrap();
        assert_eq!(again.key_id(), first.key_id);
        let second = write_key_pair(KeyKind::Publisher, dir.path(), true).unwrap();
        assert_ne!(second.key_id, first.key_id);
        let mode = std::fs::metadata(&second.secret_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refuses_secret_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let w = write_key_pair(KeyKind::Appliance, dir.path(), false).unwrap();
        std::fs::set_permissions(&w.secret_path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = ApplianceSecret::read(&w.secret_path).unwrap_err();
        assert!(matches!(
            err,
            KeyError::InsecurePermissions { mode: 0o640, .. }
        ));
        assert!(err.to_string().contains("0640"), "{err}");
    }

    #[test]
    fn publisher_key_cannot_be_loaded_as_appliance_key() {
        let dir = tempfile::tempdir().unwrap();
        let w = write_key_pair(KeyKind::Publisher, dir.path(), false).unwrap();
        let err = ApplianceSecret::read(&w.secret_path).unwrap_err();
        assert!(matches!(err, KeyError::WrongKind { .. }), "{err}");
        let err = AppliancePublic::read(&w.public_path).unwrap_err();
        assert!(matches!(err, KeyError::WrongKind { .. }), "{err}");
        let err = ApplianceSecret::read(&w.public_path).unwrap_err();
        assert!(err.to_string().contains("publisher public key"), "{err}");
    }

    #[test]
    fn rejects_malformed_key_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pub");
        let good = AppliancePublic::from_bytes(&[9u8; 32]).to_line();
        for bad in [
            String::new(),
            "noodepd-appliance-v1".to_string(),
            "noodepd-appliance-v1 AAAA".to_string(),
            "something-else AAAA".to_string(),
            format!("{good}\n{good}\n"),
            format!("{good} comment\u{7}"),
        ] {
            std::fs::write(&p, &bad).unwrap();
            let err = AppliancePublic::read(&p).unwrap_err();
            assert!(matches!(err, KeyError::Malformed { .. }), "{bad:?}: {err}");
        }
        std::fs::write(&p, format!("{good} ward A3 box 1\n")).unwrap();
        assert!(AppliancePublic::read(&p).is_ok());
    }
}

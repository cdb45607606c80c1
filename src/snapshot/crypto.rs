//! The cryptographic steps of the format, each a thin use of a RustCrypto/dalek crate:
//! the key-encryption key (X25519 + HKDF-SHA256), the data-key wrap (AES-256-GCM), the
//! chunk AAD (SHA-256 of preamble + header) and the STREAM cipher over the chunks.

use super::format::{KEY_WRAP_INFO, STREAM_NONCE_LEN, WRAPPED_KEY_LEN};
use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The all-zero nonce of the key wrap: safe because every key-encryption key is used
/// exactly once (it depends on a fresh ephemeral key per snapshot).
const WRAP_NONCE: [u8; 12] = [0u8; 12];

/// KEK = HKDF-SHA256(salt = none, ikm = X25519 shared secret,
///                   info = KEY_WRAP_INFO || ephemeral_pub || recipient_pub), 32 bytes.
pub(super) fn derive_kek(
    shared: &[u8; 32],
    ephemeral_pub: &[u8; 32],
    recipient_pub: &[u8; 32],
) -> Option<Zeroizing<[u8; 32]>> {
    let hk = Hkdf::<Sha256>::new(None, shared);
    let mut info = Vec::with_capacity(KEY_WRAP_INFO.len() + 64);
    info.extend_from_slice(KEY_WRAP_INFO);
    info.extend_from_slice(ephemeral_pub);
    info.extend_from_slice(recipient_pub);
    let mut kek = Zeroizing::new([0u8; 32]);
    hk.expand(&info, kek.as_mut()).ok()?;
    Some(kek)
}

/// Wraps the 32-byte data key under a KEK: AES-256-GCM, zero nonce, empty AAD.
pub(super) fn wrap(kek: &[u8; 32], data_key: &[u8; 32]) -> Option<[u8; WRAPPED_KEY_LEN]> {
    let cipher = Aes256Gcm::new_from_slice(kek).ok()?;
    let ct = cipher
        .encrypt(&WRAP_NONCE.into(), data_key.as_slice())
        .ok()?;
    ct.as_slice().try_into().ok()
}

/// Unwraps a data key; `None` when the tag does not verify.
pub(super) fn unwrap(
    kek: &[u8; 32],
    wrapped: &[u8; WRAPPED_KEY_LEN],
) -> Option<Zeroizing<[u8; 32]>> {
    let cipher = Aes256Gcm::new_from_slice(kek).ok()?;
    let pt = Zeroizing::new(
        cipher
            .decrypt(&WRAP_NONCE.into(), wrapped.as_slice())
            .ok()?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if pt.len() != 32 {
        return None;
    }
    key.copy_from_slice(&pt);
    Some(key)
}

/// The AAD of every chunk: SHA-256 over the preamble and the header.
pub(super) fn header_digest(preamble_and_header: &[u8]) -> [u8; 32] {
    Sha256::digest(preamble_and_header).into()
}

/// The STREAM encryptor for the body.
pub(super) fn encryptor(
    data_key: &[u8; 32],
    nonce: &[u8; STREAM_NONCE_LEN],
) -> Option<EncryptorBE32<Aes256Gcm>> {
    let cipher = Aes256Gcm::new_from_slice(data_key).ok()?;
    Some(EncryptorBE32::from_aead(cipher, &(*nonce).into()))
}

/// The STREAM decryptor for the body.
pub(super) fn decryptor(
    data_key: &[u8; 32],
    nonce: &[u8; STREAM_NONCE_LEN],
) -> Option<DecryptorBE32<Aes256Gcm>> {
    let cipher = Aes256Gcm::new_from_slice(data_key).ok()?;
    Some(DecryptorBE32::from_aead(cipher, &(*nonce).into()))
}

//! The update bundle file format: one signed file that carries a new image release (its
//! dm-verity root file system, that file system's hash tree, and the signed unified kernel
//! image whose command line holds the root hash), made by `noodepd update make` on the
//! release side and checked here before the box writes a byte of it.
//!
//! ```text
//! MAGIC (16 bytes "NOODEPD-UPDATE1\n") | header length H (u32 LE, 1..=16384) |
//! header (H bytes JSON, `Header`) | Ed25519 signature (64 bytes, release key) over
//! MAGIC || H || header | part "root" | part "verity" | part "uki"   (end of file)
//! ```
//!
//! The header names every part with its exact size and SHA-256, so one signature covers
//! the whole file; the file must end exactly after the last part. [`verify`] checks, in
//! this order and reading nothing it does not need: the file is a regular file within
//! [`MAX_BUNDLE`]; magic and header length; the signature with the pinned release key; the
//! header (format, image id, version strictly newer than the running one, part names,
//! order and size limits); the file length; then the SHA-256 of every part, streamed.

use super::UpdateError;
use super::version::ImageVersion;
use crate::keys::{ReleasePublic, ReleaseSecret};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file's first 16 bytes.
pub(crate) const MAGIC: &[u8; 16] = b"NOODEPD-UPDATE1\n";
/// The header format this code reads and writes.
pub(crate) const FORMAT: u32 = 1;
/// The `image_id` of noodepd images (os-release `IMAGE_ID`).
pub(crate) const IMAGE_ID: &str = "noodepd";
/// Largest header accepted.
pub(crate) const MAX_HEADER: u32 = 16 * 1024;
/// The file name suffix of a bundle in the inbox (the daemon leaves these alone).
pub(crate) const SUFFIX: &str = ".nupd";
/// The parts, in the order they appear, with the largest size each may have.
pub(crate) const PARTS: [(&str, u64); 3] =
    [("root", 4 << 30), ("verity", 512 << 20), ("uki", 256 << 20)];
/// Largest bundle file accepted: every part at its limit plus the framing.
pub(crate) const MAX_BUNDLE: u64 = (4 << 30) + (512 << 20) + (256 << 20) + 16 + 4 + 16 * 1024 + 64;
/// Buffer for streaming parts.
const CHUNK: usize = 1 << 20;

/// One part as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Part {
    pub name: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the part's bytes.
    pub sha256: String,
}

/// The signed header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    pub format: u32,
    pub image_id: String,
    /// The release's image version (os-release `IMAGE_VERSION` inside it).
    pub version: String,
    /// Id of the release key that signed it (for the refusal message; the signature decides).
    pub key_id: String,
    pub parts: Vec<Part>,
}

/// A bundle whose signature, header and every part's hash have been checked.
#[derive(Debug)]
pub(crate) struct Verified {
    pub header: Header,
    pub version: ImageVersion,
    /// Offset of the first part in the file.
    pub data_offset: u64,
}

impl Verified {
    /// Offset and part of `name`.
    pub(crate) fn part(&self, name: &str) -> Option<(u64, &Part)> {
        let mut offset = self.data_offset;
        for part in &self.header.parts {
            if part.name == name {
                return Some((offset, part));
            }
            offset = offset.checked_add(part.size)?;
        }
        None
    }
}

/// Is this inbox file name an update bundle (`*.nupd`, not hidden)?
pub(crate) fn is_bundle_name(name: &std::ffi::OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.starts_with(b".") && bytes.len() > SUFFIX.len() && bytes.ends_with(SUFFIX.as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signed_prefix(header: &[u8]) -> Result<Vec<u8>, UpdateError> {
    let len = u32::try_from(header.len()).map_err(|_| UpdateError::BadHeader("too long".into()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header);
    Ok(out)
}

/// Hashes `len` bytes of `file` from its current position; `Truncated` if it ends before.
fn hash_stream(
    file: &mut impl Read,
    len: u64,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<[u8; 32], UpdateError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let chunk = buf.get_mut(..want).ok_or(UpdateError::Truncated)?;
        let n = file
            .read(chunk)
            .map_err(UpdateError::io("reading the bundle"))?;
        if n == 0 {
            return Err(UpdateError::Truncated);
        }
        let got = chunk.get(..n).ok_or(UpdateError::Truncated)?;
        hasher.update(got);
        sink(got).map_err(UpdateError::io("writing"))?;
        left -= n as u64;
    }
    Ok(hasher.finalize().into())
}

/// Makes a bundle at `out` from the three part files, signed with `key`.
pub(crate) fn make(
    key: &ReleaseSecret,
    version: &ImageVersion,
    root: &Path,
    verity: &Path,
    uki: &Path,
    out: &Path,
) -> Result<Header, UpdateError> {
    let mut parts = Vec::new();
    for ((name, limit), path) in PARTS.iter().zip([root, verity, uki]) {
        let mut f = File::open(path).map_err(UpdateError::io_at(path))?;
        let size = f.metadata().map_err(UpdateError::io_at(path))?.len();
        if size == 0 || size > *limit {
            return Err(UpdateError::PartSize {
                part: (*name).to_owned(),
                size,
                limit: *limit,
            });
        }
        let digest = hash_stream(&mut f, size, |_| Ok(()))?;
        parts.push(Part {
            name: (*name).to_owned(),
            size,
            sha256: hex(&digest),
        });
    }
    let header = Header {
        format: FORMAT,
        image_id: IMAGE_ID.to_owned(),
        version: version.as_str().to_owned(),
        key_id: key.key_id().to_string(),
        parts,
    };
    let json = serde_json::to_vec(&header).map_err(|e| UpdateError::BadHeader(e.to_string()))?;
    let prefix = signed_prefix(&json)?;
    let signature = key.sign(&prefix);
    let mut tmp_name = out.as_os_str().to_owned();
    tmp_name.push(".part");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut w = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(UpdateError::io_at(&tmp))?,
    );
    w.write_all(&prefix).map_err(UpdateError::io_at(&tmp))?;
    w.write_all(&signature).map_err(UpdateError::io_at(&tmp))?;
    for (part, path) in header.parts.iter().zip([root, verity, uki]) {
        let mut f = File::open(path).map_err(UpdateError::io_at(path))?;
        let digest = hash_stream(&mut f, part.size, |b| w.write_all(b))?;
        if hex(&digest) != part.sha256 {
            return Err(UpdateError::PartChanged(part.name.clone()));
        }
    }
    let file = w.into_inner().map_err(|e| UpdateError::Io {
        what: tmp.display().to_string(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(UpdateError::io_at(&tmp))?;
    std::fs::rename(&tmp, out).map_err(UpdateError::io_at(out))?;
    Ok(header)
}

/// Opens a bundle file for reading: no symlinks, a regular file within [`MAX_BUNDLE`].
pub(crate) fn open(path: &Path) -> Result<(File, u64), UpdateError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(UpdateError::io_at(path))?;
    let meta = file.metadata().map_err(UpdateError::io_at(path))?;
    if !meta.is_file() {
        return Err(UpdateError::NotABundle("not a regular file"));
    }
    if meta.len() > MAX_BUNDLE {
        return Err(UpdateError::TooLarge {
            size: meta.len(),
            limit: MAX_BUNDLE,
        });
    }
    Ok((file, meta.len()))
}

/// Checks an open bundle completely (see the module documentation); `installed` is the
/// running image's version, which the bundle's must exceed.
pub(crate) fn verify(
    file: &mut File,
    file_len: u64,
    key: &ReleasePublic,
    installed: Option<&ImageVersion>,
) -> Result<Verified, UpdateError> {
    file.seek(SeekFrom::Start(0))
        .map_err(UpdateError::io("reading the bundle"))?;
    let mut magic = [0u8; 16];
    read_exact(file, &mut magic)?;
    if &magic != MAGIC {
        return Err(UpdateError::NotABundle("no update bundle magic"));
    }
    let mut len = [0u8; 4];
    read_exact(file, &mut len)?;
    let header_len = u32::from_le_bytes(len);
    if header_len == 0 || header_len > MAX_HEADER {
        return Err(UpdateError::BadHeader(format!(
            "header length {header_len} outside 1..={MAX_HEADER}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    read_exact(file, &mut header)?;
    let mut signature = [0u8; 64];
    read_exact(file, &mut signature)?;
    let prefix = signed_prefix(&header)?;
    // Nothing in the header is believed before the signature verifies; the key id is read
    // leniently only to say which key signed a refused bundle.
    if !key.verify_strict(&prefix, &signature) {
        let claimed = serde_json::from_slice::<serde_json::Value>(&header)
            .ok()
            .and_then(|v| v.get("key_id").and_then(|k| k.as_str()).map(str::to_owned))
            .filter(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()));
        return Err(match claimed {
            Some(found) if found != key.key_id().to_string() => UpdateError::WrongKey {
                found,
                expected: key.key_id(),
            },
            _ => UpdateError::BadSignature,
        });
    }
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| UpdateError::BadHeader(crate::jsonerr::describe(&e)))?;
    if header.format != FORMAT {
        return Err(UpdateError::BadHeader(format!(
            "format {} (this box reads {FORMAT})",
            header.format
        )));
    }
    if header.image_id != IMAGE_ID {
        return Err(UpdateError::BadHeader("not a noodepd image".into()));
    }
    let version =
        ImageVersion::parse(&header.version).map_err(|e| UpdateError::BadHeader(e.to_string()))?;
    if let Some(installed) = installed
        && version <= *installed
    {
        return Err(UpdateError::NotNewer {
            offered: version.to_string(),
            installed: installed.to_string(),
        });
    }
    if header.parts.len() != PARTS.len() {
        return Err(UpdateError::BadHeader(
            "not the three parts root, verity, uki".into(),
        ));
    }
    let mut total: u64 = 0;
    for (part, (name, limit)) in header.parts.iter().zip(PARTS) {
        if part.name != name {
            return Err(UpdateError::BadHeader(format!(
                "part {:?} where {name} belongs",
                crate::text::printable(&part.name.chars().take(40).collect::<String>())
            )));
        }
        if part.size == 0 || part.size > limit {
            return Err(UpdateError::PartSize {
                part: name.to_owned(),
                size: part.size,
                limit,
            });
        }
        if part.sha256.len() != 64
            || !part
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(UpdateError::BadHeader(format!(
                "part {name}: not a SHA-256"
            )));
        }
        total = total.saturating_add(part.size);
    }
    let data_offset = (MAGIC.len() + 4 + 64) as u64 + u64::from(header_len);
    let expected = data_offset.saturating_add(total);
    if file_len < expected {
        return Err(UpdateError::Truncated);
    }
    if file_len > expected {
        return Err(UpdateError::TrailingData);
    }
    for part in &header.parts {
        let digest = hash_stream(file, part.size, |_| Ok(()))?;
        if hex(&digest) != part.sha256 {
            return Err(UpdateError::PartMismatch(part.name.clone()));
        }
    }
    Ok(Verified {
        header,
        version,
        data_offset,
    })
}

fn read_exact(file: &mut File, buf: &mut [u8]) -> Result<(), UpdateError> {
    file.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            UpdateError::Truncated
        } else {
            UpdateError::Io {
                what: "reading the bundle".into(),
                source: e,
            }
        }
    })
}

/// Copies `len` bytes from `file` at `offset` into `out`, returning their SHA-256 (the
/// installer compares it with the verified header: the file may not change in between).
pub(crate) fn copy_part(
    file: &mut File,
    offset: u64,
    len: u64,
    out: &mut impl Write,
) -> Result<[u8; 32], UpdateError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(UpdateError::io("reading the bundle"))?;
    hash_stream(file, len, |b| out.write_all(b))
}

/// SHA-256 of the first `len` bytes of `path` (read back from a written slot).
pub(crate) fn hash_prefix(path: &Path, len: u64) -> Result<[u8; 32], UpdateError> {
    let mut f = File::open(path).map_err(UpdateError::io_at(path))?;
    hash_stream(&mut f, len, |_| Ok(()))
}

pub(crate) fn hex_digest(d: &[u8; 32]) -> String {
    hex(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ReleaseSecret {
        ReleaseSecret::from_bytes(&[7; 32])
    }

    /// A bundle file from an arbitrary (signed) header and body.
    fn raw(
        key: &ReleaseSecret,
        header: &serde_json::Value,
        body: &[u8],
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_vec(header).unwrap();
        let prefix = signed_prefix(&json).unwrap();
        let mut bytes = prefix.clone();
        bytes.extend_from_slice(&key.sign(&prefix));
        bytes.extend_from_slice(body);
        let path = dir.path().join("x.nupd");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    fn header(parts: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "format": 1, "image_id": "noodepd", "version": "2", "key_id": key().key_id().to_string(),
            "parts": parts,
        })
    }

    fn part(name: &str, body: &[u8]) -> serde_json::Value {
        serde_json::json!({"name": name, "size": body.len(), "sha256": hex(&Sha256::digest(body))})
    }

    fn check(path: &Path) -> Result<Verified, UpdateError> {
        let (mut f, len) = open(path)?;
        verify(
            &mut f,
            len,
            &key().public(),
            Some(&ImageVersion::parse("1").unwrap()),
        )
    }

    #[test]
    fn signed_header_that_declares_an_oversized_part_is_refused() {
        let (_d, p) = raw(
            &key(),
            &header(serde_json::json!([
                {"name": "root", "size": (4u64 << 30) + 1, "sha256": "0".repeat(64)},
                part("verity", b"v"), part("uki", b"u"),
            ])),
            b"rvu",
        );
        assert!(matches!(check(&p), Err(UpdateError::PartSize { .. })));
    }

    #[test]
    fn signed_header_with_wrong_parts_or_fields_is_refused() {
        for parts in [
            serde_json::json!([part("root", b"r"), part("uki", b"u"), part("verity", b"v")]),
            serde_json::json!([part("root", b"r"), part("verity", b"v")]),
            serde_json::json!([
                part("root", b"r"),
                part("verity", b"v"),
                part("uki", b"u"),
                part("x", b"")
            ]),
        ] {
            let (_d, p) = raw(&key(), &header(parts), b"rvu");
            assert!(matches!(check(&p), Err(UpdateError::BadHeader(_))));
        }
        let mut h = header(serde_json::json!([
            part("root", b"r"),
            part("verity", b"v"),
            part("uki", b"u")
        ]));
        h["unexpected"] = serde_json::json!(1);
        let (_d, p) = raw(&key(), &h, b"rvu");
        assert!(matches!(check(&p), Err(UpdateError::BadHeader(_))));
        let mut h = header(serde_json::json!([
            part("root", b"r"),
            part("verity", b"v"),
            part("uki", b"u")
        ]));
        h["image_id"] = serde_json::json!("debian");
        let (_d, p) = raw(&key(), &h, b"rvu");
        assert!(matches!(check(&p), Err(UpdateError::BadHeader(_))));
        // The same header, well formed, is accepted: the refusals above are for their reason.
        let h = header(serde_json::json!([
            part("root", b"r"),
            part("verity", b"v"),
            part("uki", b"u")
        ]));
        let (_d, p) = raw(&key(), &h, b"rvu");
        let ok = check(&p).unwrap();
        assert_eq!(ok.part("uki").unwrap().0, ok.data_offset + 2);
    }

    #[test]
    fn a_header_changed_after_signing_is_a_bad_signature() {
        let h = header(serde_json::json!([
            part("root", b"r"),
            part("verity", b"v"),
            part("uki", b"u")
        ]));
        let (_d, p) = raw(&key(), &h, b"rvu");
        let mut bytes = std::fs::read(&p).unwrap();
        // "version":"2" -> "version":"3" inside the signed header.
        let at = bytes
            .windows(13)
            .position(|w| w == b"\"version\":\"2\"")
            .unwrap();
        bytes[at + 11] = b'3';
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(check(&p), Err(UpdateError::BadSignature)));
    }

    #[test]
    fn symlinks_and_directories_are_not_bundles() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l.nupd");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(open(&link), Err(UpdateError::Io { .. })));
        assert!(matches!(open(dir.path()), Err(UpdateError::NotABundle(_))));
    }

    #[test]
    fn bundle_names() {
        use std::ffi::OsStr;
        assert!(is_bundle_name(OsStr::new("noodepd-2026.12.1.nupd")));
        assert!(!is_bundle_name(OsStr::new(".nupd")));
        assert!(!is_bundle_name(OsStr::new(".hidden.nupd")));
        assert!(!is_bundle_name(OsStr::new("x.nupd.part")));
        assert!(!is_bundle_name(OsStr::new("x.snap")));
    }
}

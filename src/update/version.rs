//! Image versions: what a release is called (`IMAGE_VERSION` in os-release, digits separated
//! by dots, e.g. `2026.12.1`) and the one ordering that decides whether a bundle is newer
//! than what the box runs. Compared numerically part by part; `1.2` < `1.2.0` < `1.10`.

use std::cmp::Ordering;
use std::fmt;

/// Longest version text accepted (the same bound as image/build.sh).
pub(crate) const MAX_VERSION_LEN: usize = 64;
/// At most this many dot-separated parts.
const MAX_PARTS: usize = 8;

/// A parsed image version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageVersion {
    parts: Vec<u64>,
    text: String,
}

/// Why a version text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an image version (digits separated by single dots, at most {MAX_PARTS} parts and {MAX_VERSION_LEN} characters)"
)]
pub(crate) struct VersionError;

impl ImageVersion {
    /// Parses `2026.12.1`; refuses anything else (signs, letters, empty parts, leading zeros
    /// that would make two texts mean one version).
    pub(crate) fn parse(text: &str) -> Result<ImageVersion, VersionError> {
        if text.is_empty() || text.len() > MAX_VERSION_LEN {
            return Err(VersionError);
        }
        let mut parts = Vec::new();
        for part in text.split('.') {
            if part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return Err(VersionError);
            }
            parts.push(part.parse::<u64>().map_err(|_| VersionError)?);
            if parts.len() > MAX_PARTS {
                return Err(VersionError);
            }
        }
        Ok(ImageVersion {
            parts,
            text: text.to_owned(),
        })
    }

    /// The version as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for ImageVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // Vec's ordering is lexicographic over numbers, a shorter prefix first.
        self.parts.cmp(&other.parts)
    }
}

impl PartialOrd for ImageVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `IMAGE_VERSION` from an os-release text (`KEY=value`, value optionally quoted), if it is
/// a valid version. Anything else (missing, malformed) is `None`: a development machine has
/// no image version.
pub(crate) fn from_os_release(text: &str) -> Option<ImageVersion> {
    let value = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("IMAGE_VERSION="))?;
    let value = value.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    ImageVersion::parse(unquoted).ok()
}

/// Reads `IMAGE_VERSION` from an os-release file (at most 64 KiB read).
pub(crate) fn read_os_release(path: &std::path::Path) -> Option<ImageVersion> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(64 * 1024).read_to_string(&mut text).ok()?;
    from_os_release(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ImageVersion {
        ImageVersion::parse(s).unwrap()
    }

    #[test]
    fn numeric_part_by_part_order() {
        assert!(v("1.2") < v("1.10"));
        assert!(v("1.2") < v("1.2.0"));
        assert!(v("2026.12.1") > v("2026.11.30"));
        assert!(v("9") < v("10"));
        assert_eq!(v("3.4").cmp(&v("3.4")), Ordering::Equal);
    }

    #[test]
    fn anything_but_dotted_digits_is_refused() {
        for bad in [
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            "1.a",
            "-1",
            "+1",
            "1 ",
            " 1",
            "01",
            "1.02",
            "1.2.3.4.5.6.7.8.9",
            "99999999999999999999",
        ] {
            assert!(ImageVersion::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ImageVersion::parse(&"1.".repeat(40)).is_err());
        assert_eq!(v("0").as_str(), "0");
    }

    #[test]
    fn os_release_value_is_read_quoted_or_not() {
        let text = "PRETTY_NAME=\"Debian\"\nIMAGE_ID=noodepd\nIMAGE_VERSION=\"2026.12.1\"\n";
        assert_eq!(from_os_release(text), Some(v("2026.12.1")));
        assert_eq!(
            from_os_release("IMAGE_VERSION=0.1765000000\n"),
            Some(v("0.1765000000"))
        );
        assert_eq!(from_os_release("ID=debian\n"), None);
        assert_eq!(from_os_release("IMAGE_VERSION=1.x\n"), None);
    }
}

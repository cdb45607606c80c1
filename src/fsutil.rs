//! Small durable-file helpers shared by the modules that persist state (mode, sequence,
//! kept snapshots, the audit anchor): one implementation of "write a small file so that a
//! crash leaves either the old or the new content, never a mix".

use std::path::Path;

/// Writes a small file atomically and durably: `NAME.tmp` (mode 0600), fsync, rename over
/// `path`, fsync the directory. A crash leaves the old file or the new one, plus at most a
/// stale `.tmp` that the next write replaces.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

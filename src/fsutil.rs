//! Small file helpers shared by the modules that persist state (mode, sequence, kept
//! snapshots, the audit log and its anchor, generations): one implementation of "write a
//! small file so that a crash leaves either the old or the new content, never a mix", and
//! of "create it private from the start": directories 0700 and files 0600 are created with
//! that mode by the `mkdir`/`open` call itself, so there is no moment (before a `chmod`) in
//! which another local user could open them.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700 (directories that exist keep
/// theirs: the image sets the inbox's group access on purpose).
pub(crate) fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `path` as an empty 0600 file if it does not exist yet (an existing file is left
/// as it is), so a library that creates files with its own default mode (SQLite: 0644) only
/// ever opens a file that was private from its first moment.
pub(crate) fn precreate_private_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a small file atomically and durably: `NAME.tmp` (mode 0600), fsync, rename over
/// `path`, fsync the directory. A crash leaves the old file or the new one, plus at most a
/// stale `.tmp` that the next write replaces.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`], then the new file's mode set to `mode` before the rename (created 0600;
/// set afterwards because the writer's umask would strip the bits), for a file another user
/// must read (e.g. the update installer's verdicts, read by the daemon).
pub(crate) fn write_atomic_mode(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("tmp");
    {
        // A stale temp file (a crash) is removed, never reused: reusing it would keep
        // whatever mode and owner it has.
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        if let Some(mode) = mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_and_directories_are_private_from_creation() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b/c");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&d.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("f");
        precreate_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::write(&f, b"x").unwrap();
        precreate_private_file(&f).unwrap();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            b"x",
            "an existing file is left alone"
        );
        // A stale temp file with a wide mode is not reused.
        let tmp = dir.join("g.tmp");
        std::fs::write(&tmp, b"old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&dir.join("g"), b"new").unwrap();
        assert_eq!(mode(&dir.join("g")), 0o600);
        // A symlink planted as the temp name is not followed.
        let target = d.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("h.tmp")).unwrap();
        write_atomic(&dir.join("h"), b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}

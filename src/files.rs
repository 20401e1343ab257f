//! Atomic file writes: every file trm-gpu writes goes through here.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file written atomically: the bytes go to a uniquely named temporary file beside `path` (tempfile), which is
/// removed if it is dropped unfinished; `commit` syncs it and renames it over `path`. A reader never sees a part
/// written file, a failed or killed write leaves the old file as it was, and two writers never share a name.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().with_context(|| format!("{}: not a file path", path.display()))?;
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // The mode std::fs::write gives (0666 less the umask), not tempfile's private 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder
            .tempfile_in(dir)
            .with_context(|| format!("{}: cannot create a temporary file in {}", path.display(), dir.display()))?;
        Ok(AtomicFile { tmp, path: path.to_path_buf() })
    }

    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tmp.as_file().sync_all().with_context(|| format!("{}: write failed", path.display()))?;
        self.tmp.persist(&path).with_context(|| format!("{}: cannot replace", path.display()))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (see `AtomicFile`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.file().write_all(bytes).with_context(|| format!("{}: write failed", path.display()))?;
    f.commit()
}

/// A lock on a directory that one process writes (a training run): `.lock` holds the owner's pid. A second
/// process is refused while the owner lives; a lock left by a killed process is taken over. Released on drop.
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(".lock");
        let me = std::process::id();
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(me.to_string().as_bytes())
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    return Ok(DirLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                    if let Some(pid) = owner.filter(|&pid| pid != me && alive(pid)) {
                        anyhow::bail!(
                            "{} is in use by another trainer (pid {pid}); wait for it, or use another directory",
                            dir.display()
                        );
                    }
                    // Left by a process that no longer runs (or unreadable): take it over.
                    std::fs::remove_file(&path)
                        .with_context(|| format!("{}: cannot remove a stale lock", path.display()))?;
                }
                Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.display())),
            }
        }
        anyhow::bail!("{}: another process keeps taking this lock", path.display())
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` runs (Linux: /proc; elsewhere assumed, so a stale lock there must be removed by hand).
fn alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

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
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
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

//! Output files, validated before any work and written all-or-nothing (staged outputs).
//!
//! [`Staged`] checks an output path when the command starts — a known extension, an existing
//! directory that accepts a new file (proven by creating the temporary file there), a path that
//! is not a directory, not the same file as an input — and holds the temporary file next to
//! the destination. A command writes into it and [`Staged::commit`] renames it into place only
//! after every step succeeded; dropping it removes the temporary file, so a failed run leaves
//! nothing behind.
//!
//! New files get mode 0666 minus the umask, as `cp` and shells create them; an existing file
//! keeps its permission bits. A symbolic link as the destination is followed: its target is
//! replaced and the link stays.
//!
//! [`StagedDir`] does the same for a directory of outputs (the demo): every file is written into
//! a temporary directory and moved into place when all of them are complete.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tempfile::{NamedTempFile, TempDir};

/// The directory a path's file goes into (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Why a path's directory is unusable: missing, or a component that is a file.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(_) => {
            // Walk up to the first existing ancestor to say which component is wrong.
            let mut a = dir.parent();
            while let Some(p) = a {
                if p.as_os_str().is_empty() {
                    break;
                }
                if let Ok(m) = fs::metadata(p) {
                    if !m.is_dir() {
                        bail!("{} is not a directory", p.display());
                    }
                    break;
                }
                a = p.parent();
            }
            bail!("output directory {} does not exist", dir.display())
        }
    }
}

/// Where a write to `path` really lands: the path itself, or a symbolic link's target.
fn resolve(path: &Path) -> anyhow::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .with_context(|| format!("{} is a symbolic link to a missing file", path.display())),
        _ => Ok(path.to_path_buf()),
    }
}

/// Checks that `path` is not a directory and not one of `inputs`.
fn check_destination(path: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    if let Ok(m) = fs::metadata(path) {
        if m.is_dir() {
            bail!("{} is a directory", path.display());
        }
        if !m.is_file() {
            bail!("{} exists and is not a regular file", path.display());
        }
    }
    for input in inputs {
        if same_file::is_same_file(path, input).unwrap_or(false) {
            bail!("output {} is the same file as the input {}", path.display(), input.display());
        }
    }
    Ok(())
}

/// A temporary file in `dir` whose permissions follow the umask (mode 0666 minus the umask),
/// or copy `like`'s permissions when that file exists.
fn temp_in(dir: &Path, like: &Path) -> anyhow::Result<NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(".flowscore-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(0o666));
    }
    let tmp =
        b.tempfile_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
    if let Ok(m) = fs::metadata(like) {
        fs::set_permissions(tmp.path(), m.permissions())
            .with_context(|| format!("cannot copy the permissions of {}", like.display()))?;
    }
    Ok(tmp)
}

/// An output file checked before the work and written to a temporary file beside it.
#[derive(Debug)]
pub struct Staged {
    /// The path as given (for messages).
    shown: PathBuf,
    /// Where the file lands (a symbolic link's target).
    dest: PathBuf,
    tmp: NamedTempFile,
}

impl Staged {
    /// Validates `path` against `inputs` and creates the temporary file beside it.
    pub fn new(path: &Path, inputs: &[&Path]) -> anyhow::Result<Self> {
        if path.file_name().is_none() {
            bail!("{}: not a file path", path.display());
        }
        check_dir(&parent_dir(path))?;
        let dest = resolve(path)?;
        check_destination(&dest, inputs)?;
        let tmp = temp_in(&parent_dir(&dest), &dest)?;
        Ok(Self { shown: path.to_path_buf(), dest, tmp })
    }

    /// The file to write into.
    pub fn file(&self) -> anyhow::Result<File> {
        self.tmp.as_file().try_clone().context("cannot open the temporary output file")
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Moves the complete file into place.
    pub fn commit(self) -> anyhow::Result<()> {
        self.tmp.as_file().sync_all().ok();
        let shown = self.shown;
        self.tmp
            .persist(&self.dest)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", shown.display(), e.error))?;
        Ok(())
    }
}

/// A directory of outputs written into a temporary directory and moved into place together.
#[derive(Debug)]
pub struct StagedDir {
    out: PathBuf,
    stage: TempDir,
    names: Vec<String>,
}

impl StagedDir {
    /// Validates the output directory `out` and the files `names` it will receive, and creates
    /// the temporary directory: inside `out` when it exists, else in its nearest existing
    /// ancestor (so the final moves stay on one file system).
    pub fn new(out: &Path, names: &[&str]) -> anyhow::Result<Self> {
        let stage_parent = if out.exists() {
            if !fs::metadata(out).map(|m| m.is_dir()).unwrap_or(false) {
                bail!("{} is not a directory", out.display());
            }
            for n in names {
                check_destination(&resolve(&out.join(n))?, &[])?;
            }
            out.to_path_buf()
        } else {
            let mut a = parent_dir(out);
            loop {
                match fs::metadata(&a) {
                    Ok(m) if m.is_dir() => break a,
                    Ok(_) => bail!("{} is not a directory", a.display()),
                    Err(_) => a = parent_dir(&a),
                }
                if a == Path::new(".") && !Path::new(".").exists() {
                    bail!("output directory {} cannot be created", out.display());
                }
            }
        };
        let stage = tempfile::Builder::new()
            .prefix(".flowscore-")
            .tempdir_in(&stage_parent)
            .with_context(|| format!("cannot create a directory in {}", stage_parent.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Follow the umask as `mkdir` does, rather than the temporary directory's 0700.
            let probe = temp_in(stage.path(), Path::new(""))?;
            let mode = fs::metadata(probe.path())?.permissions().mode() & 0o666;
            let dir_mode = mode | ((mode & 0o444) >> 2);
            fs::set_permissions(stage.path(), fs::Permissions::from_mode(dir_mode))?;
        }
        Ok(Self {
            out: out.to_path_buf(),
            stage,
            names: names.iter().map(|n| n.to_string()).collect(),
        })
    }

    /// Where to write the file `name` (one of the names given to [`StagedDir::new`]).
    pub fn path(&self, name: &str) -> PathBuf {
        self.stage.path().join(name)
    }

    /// The final path of `name`.
    pub fn final_path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    /// Moves every file into place: the whole directory when `out` did not exist, else file
    /// by file (each move atomic).
    pub fn commit(self) -> anyhow::Result<Vec<PathBuf>> {
        let files: Vec<PathBuf> = self.names.iter().map(|n| self.out.join(n)).collect();
        for n in &self.names {
            if !self.stage.path().join(n).is_file() {
                bail!("internal: output {n} was not written");
            }
        }
        if self.out.exists() {
            for n in &self.names {
                let dest = resolve(&self.out.join(n))?;
                check_destination(&dest, &[])?;
                let src = self.stage.path().join(n);
                if let Ok(m) = fs::metadata(&dest) {
                    fs::set_permissions(&src, m.permissions()).ok();
                }
                fs::rename(&src, &dest)
                    .with_context(|| format!("cannot write {}", dest.display()))?;
            }
        } else {
            if let Some(p) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(p)
                    .with_context(|| format!("cannot create directory {}", p.display()))?;
            }
            let stage = self.stage.keep();
            if let Err(e) = fs::rename(&stage, &self.out) {
                fs::remove_dir_all(&stage).ok();
                return Err(e).with_context(|| format!("cannot create {}", self.out.display()));
            }
        }
        Ok(files)
    }
}

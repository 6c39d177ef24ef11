//! Crash-safe saving and loading of the database file.
//!
//! `save` never modifies the live file in place: it writes `<file>.new`,
//! fsyncs it, renames it over `<file>` and fsyncs the directory, so a crash
//! or `kill -9` at any instant leaves either the old or the new complete file
//! (rename is atomic; the directory fsync makes the rename itself durable).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::write::write_db;
use super::{decode, PersistDb, PersistError};

/// Why `load` could not produce a database.
#[derive(Debug)]
pub enum LoadError {
    /// The file exists but could not be read.
    Io { path: PathBuf, source: io::Error },
    /// The file was read but is not a valid `mosquitto.db`.
    Corrupt { path: PathBuf, error: PersistError },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, source } => {
                write!(f, "unable to read {}: {source}", path.display())
            }
            LoadError::Corrupt { path, error } => {
                write!(f, "corrupt persistence file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            LoadError::Corrupt { error, .. } => Some(error),
        }
    }
}

/// `path` with `suffix` appended to its file name (`mosquitto.db` →
/// `mosquitto.db.new`), as mosquitto names its temporary file.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path`, for the fsync that makes a rename durable.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes the latest renames in `dir` durable. On Linux std can open a
/// directory read-only and `fsync` it, which is all this needs.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `db` to `path` atomically and durably (see the module comment).
pub fn save(path: &Path, db: &PersistDb) -> io::Result<()> {
    save_with(path, |out| write_db(out, db).map(drop))
}

/// Writes `path` atomically and durably, its bytes produced by `write`
/// into a buffered writer on `<file>.new`: what is saved streams to disk
/// and the file never has to exist whole in memory.
pub fn save_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let tmp = with_suffix(path, ".new");
    // A stale `.new` may be a hard link to the live file (a crash during an
    // earlier rename can leave one); truncating it would truncate the live
    // file too, so remove it and create a fresh inode, as mosquitto does.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = write_new_file(&tmp, write).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp); // best effort; the live file is intact
        return Err(e);
    }
    sync_dir(parent_dir(path))
}

/// Big enough that the many small chunk writes cost few system calls;
/// larger payloads bypass it.
const WRITE_BUFFER: usize = 64 * 1024;

fn write_new_file<F>(tmp: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    // Mode 0600: mosquitto creates the file under umask 0077, because it
    // holds message payloads and usernames.
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, f);
    write(&mut out)?;
    let f = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    f.sync_all()
}

/// Reads and decodes `path`.
///
/// `Ok(None)` when the file does not exist, and also when it is empty
/// (zero bytes): mosquitto logs "Persistence file is empty" and starts with
/// an empty database in that case. A file that cannot be decoded is
/// `LoadError::Corrupt` with the offset and reason.
pub fn load(path: &Path) -> Result<Option<PersistDb>, LoadError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    decode(&bytes)
        .map(Some)
        .map_err(|error| LoadError::Corrupt {
            path: path.to_owned(),
            error,
        })
}

/// Renames a corrupt file out of the way to `<file>.corrupt-<unix time>`
/// (with `-1`, `-2`, ... appended if that name is taken) and returns the
/// new path, so the broker can start empty without destroying evidence.
pub fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!(".corrupt-{secs}");
    // Bounded: a hundred files moved aside within one second is absurd.
    for n in 0..100u32 {
        let suffix = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let target = with_suffix(path, &suffix);
        if fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        fs::rename(path, &target)?;
        sync_dir(parent_dir(path))?;
        return Ok(target);
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("too many {}{base}* files", path.display()),
    ))
}

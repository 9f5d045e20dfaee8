//! Reading the small text files of `/proc` and the cgroup trees, with the
//! three outcomes a source reports differently: missing (absent), denied
//! or malformed (failed).

use std::fmt;
use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a file gave no reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not there: the source is absent.
    Missing(PathBuf),
    /// There, but without the line looked for (`/proc/self/cgroup` with no
    /// memory controller, or no cgroup v2 line): the source is absent too.
    NoLine(PathBuf),
    /// There but not readable (permission denied, another I/O error).
    Denied(PathBuf, String),
    /// Read, but not what the kernel writes.
    Malformed(PathBuf, String),
}

impl ReadError {
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Missing(_) | ReadError::NoLine(_))
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing(p) => write!(f, "{} is missing", p.display()),
            ReadError::NoLine(p) => write!(f, "{} has no such line", p.display()),
            ReadError::Denied(p, e) => write!(f, "{} cannot be read: {e}", p.display()),
            ReadError::Malformed(p, e) => write!(f, "{} is malformed: {e}", p.display()),
        }
    }
}

/// `root` joined with an absolute path such as `/proc/meminfo`.
pub(crate) fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// The whole file as text.
/// Opens `path` for reading without ever blocking in the open (a FIFO
/// would until a writer came), and only if it is a regular file: what
/// `/proc`, `/sys` and the cgroup trees hold. A FIFO or a device (an
/// endless `/dev/zero`) in a fake tree is an error of kind `InvalidInput`
/// before anything is read; a folder, `EISDIR` (what a read says).
pub(crate) fn open_regular(path: &Path) -> std::io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let kind = f.metadata()?.file_type();
    if kind.is_dir() {
        // What reading it would say (unreadable, as before).
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !kind.is_file() {
        return Err(std::io::Error::new(
            IoKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

pub(crate) fn read_text(path: &Path) -> Result<String, ReadError> {
    let mut text = String::new();
    open_regular(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| match e.kind() {
            IoKind::NotFound => ReadError::Missing(path.to_path_buf()),
            IoKind::InvalidData => ReadError::Malformed(path.to_path_buf(), "not UTF-8".into()),
            IoKind::InvalidInput => ReadError::Malformed(path.to_path_buf(), e.to_string()),
            _ => ReadError::Denied(path.to_path_buf(), e.to_string()),
        })?;
    Ok(text)
}

pub(crate) fn malformed(path: &Path, what: impl Into<String>) -> ReadError {
    ReadError::Malformed(path.to_path_buf(), what.into())
}

/// One unsigned number (the whole file, trimmed); `max` (cgroup v2's "no
/// limit") reads as `None`.
pub(crate) fn read_limit(path: &Path) -> Result<Option<u64>, ReadError> {
    let text = read_text(path)?;
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| malformed(path, format!("expected a number, found {t:?}")))
}

/// One unsigned number.
pub(crate) fn read_u64(path: &Path) -> Result<u64, ReadError> {
    read_limit(path)?.ok_or_else(|| malformed(path, "expected a number, found \"max\""))
}

/// `key value` lines (memory.events, memory.stat): the value of `key`.
pub(crate) fn keyed_u64(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

/// Usage minus the inactive file cache of `memory.stat` (the "working
/// set", as the kubelet counts it): page cache the kernel drops at once
/// is not pressure. A missing or unreadable memory.stat leaves `usage`.
pub(crate) fn working_set(dir: &Path, usage: u64) -> u64 {
    let Ok(stat) = read_text(&dir.join("memory.stat")) else {
        return usage;
    };
    let inactive = keyed_u64(&stat, "total_inactive_file")
        .or_else(|| keyed_u64(&stat, "inactive_file"))
        .unwrap_or(0);
    usage.saturating_sub(inactive)
}

/// The path of the process's own cgroup as `own_path` reads it from
/// `/proc/self/cgroup`, for a cgroup source that is `enabled`; otherwise
/// `None`, with why in `detail` ("disabled", or `missing` and the error).
pub(crate) fn own_cgroup(
    fs_root: &Path,
    enabled: bool,
    own_path: fn(&Path) -> Result<String, ReadError>,
    missing: &str,
    detail: &mut String,
) -> Option<String> {
    if !enabled {
        *detail = "disabled".into();
        return None;
    }
    match own_path(fs_root) {
        Ok(p) => Some(p),
        // The file is there but says nothing of this version: `missing`
        // says it all (the file's name is in it).
        Err(ReadError::NoLine(_)) => {
            *detail = missing.into();
            None
        }
        Err(e) => {
            *detail = format!("{missing} ({e})");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_a_device_is_malformed_without_blocking() {
        let t = crate::os_pressure::testing::TempTree::new();
        let fifo = t.path("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Blocked in open(2) for good before (no writer ever comes).
        let e = read_text(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(!e.is_missing());
        let e = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(open_regular(&fifo).is_err());
    }

    #[test]
    fn keyed_values_are_found_by_whole_key() {
        let t = "low 1\nhigh 22\nmax 3\noom 0\noom_kill 7\n";
        assert_eq!(keyed_u64(t, "high"), Some(22));
        assert_eq!(keyed_u64(t, "oom"), Some(0));
        assert_eq!(keyed_u64(t, "oom_kill"), Some(7));
        assert_eq!(keyed_u64(t, "hig"), None);
        assert_eq!(keyed_u64("high x\n", "high"), None);
    }

    #[test]
    fn missing_malformed_and_max_are_told_apart() {
        let dir = crate::os_pressure::testing::TempTree::new();
        let p = dir.write("a", "123\n");
        assert_eq!(read_u64(&p), Ok(123));
        let p = dir.write("b", "max\n");
        assert_eq!(read_limit(&p), Ok(None));
        assert!(matches!(read_u64(&p), Err(ReadError::Malformed(..))));
        let p = dir.write("c", "12x\n");
        assert!(matches!(read_u64(&p), Err(ReadError::Malformed(..))));
        assert!(read_u64(&dir.path("nope")).unwrap_err().is_missing());
    }
}

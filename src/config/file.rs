//! The configuration file being loaded, as every section's loader sees it:
//! its name for the error sentences, and the folder its relative paths start
//! from.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The file a configuration is read from.
pub(super) struct ConfigFile<'a> {
    path: &'a Path,
    /// The folder holding the file: relative paths inside it start here, so
    /// a configuration works wherever the daemon is started from.
    base: PathBuf,
}

impl<'a> ConfigFile<'a> {
    pub(super) fn new(path: &'a Path) -> Self {
        Self {
            path,
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// A path written in the file, made relative to the file's folder (or
    /// kept, when absolute) and tidied.
    pub(super) fn at(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            normalize(p)
        } else {
            normalize(&self.base.join(p))
        }
    }
}

/// The file's name as errors show it.
impl fmt::Display for ConfigFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

/// Removes `.` and `name/..` without touching the file system, so paths print
/// as an admin would write them.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

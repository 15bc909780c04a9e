//! Stage: pins. What a load pins (maps by name, programs into a directory) is removed
//! again if the load fails halfway, with the directories it created.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;

use super::LoadedProgram;

/// Pins and directories created during a load, removed again if the load fails halfway.
#[derive(Default)]
pub(super) struct PinGuard(pub Vec<PathBuf>, pub Vec<PathBuf>);

impl PinGuard {
    /// The load succeeded: keep what was pinned.
    pub fn keep(mut self) {
        self.0.clear();
        self.1.clear();
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
        for d in self.1.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

pub(super) fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::Invalid(format!("path {} is not valid UTF-8", p.display())))
}

/// Pins every program as DIR/<name>, like `bpftool prog loadall`; with `replace`, over
/// what is pinned there already.
pub(super) fn pin_programs(
    dir: &Path,
    programs: &mut [LoadedProgram],
    replace: bool,
    pins: &mut PinGuard,
) -> Result<()> {
    // The directories this call creates, outermost first, for the guard to remove.
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for d in &missing {
        std::fs::create_dir(d).map_err(|e| {
            Error::sys(
                "mkdir",
                e.raw_os_error().unwrap_or(libc::EIO),
                d.display().to_string(),
            )
        })?;
        pins.1.push(d.clone());
    }
    if !replace {
        for p in programs.iter_mut() {
            let path = dir.join(&p.name);
            sys::obj_pin(p.fd.as_fd(), path_str(&path)?)?;
            pins.0.push(path.clone());
            p.pinned = Some(path);
        }
        return Ok(());
    }
    // Replacing: every program pinned under a temporary name first (the guard removes
    // those if one fails), then each renamed over its old pin, so an old pin stays until
    // its new one takes its place and a failed load leaves the old pins as they were.
    let mut temps = Vec::with_capacity(programs.len());
    for p in programs.iter() {
        let path = dir.join(&p.name);
        let tmp = PathBuf::from(sys::temp_pin_path(path_str(&path)?)?);
        sys::obj_pin(p.fd.as_fd(), path_str(&tmp)?)?;
        pins.0.push(tmp.clone());
        temps.push((tmp, path));
    }
    for (p, (tmp, path)) in programs.iter_mut().zip(temps) {
        sys::rename_pin(path_str(&tmp)?, path_str(&path)?)?;
        p.pinned = Some(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bpfbind-pins-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_failed_load_removes_what_it_pinned_and_the_directories_it_made() {
        let root = scratch("undo");
        let inner = root.join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let pin = inner.join("prog");
        std::fs::write(&pin, b"").unwrap();
        {
            let mut g = PinGuard::default();
            g.0.push(pin.clone());
            g.1.extend([root.join("a"), inner.clone()]);
        }
        assert!(!pin.exists() && !root.join("a").exists());
        std::fs::remove_dir(&root).unwrap();
    }

    #[test]
    fn a_load_that_succeeds_keeps_them() {
        let root = scratch("keep");
        std::fs::create_dir_all(&root).unwrap();
        let pin = root.join("map");
        std::fs::write(&pin, b"").unwrap();
        let mut g = PinGuard::default();
        g.0.push(pin.clone());
        g.1.push(root.clone());
        g.keep();
        assert!(pin.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}

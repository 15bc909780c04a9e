//! /proc as a source of who holds BPF programs: each process's fds that /proc/PID/fd
//! names `anon_inode:bpf-prog`, the program id from their fdinfo, and a process's comm.

use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};

/// What readlink of /proc/PID/fd/N says of a BPF program's fd (anon_inode_getfd's name).
const PROG_LINK: &[u8] = b"anon_inode:bpf-prog";

/// Calls `f(pid, prog_id)` for every fd of every process that is a BPF program. A process
/// that exits meanwhile, or whose fds this process may not read, is skipped; only /proc
/// itself failing is an error.
pub fn for_each_prog_fd(mut f: impl FnMut(u32, u32)) -> Result<()> {
    let procs = std::fs::read_dir("/proc")
        .map_err(|e| Error::sys("open", e.raw_os_error().unwrap_or(libc::EIO), "/proc"))?;
    let mut path = String::with_capacity(64);
    for entry in procs.flatten() {
        let Some(pid) = std::str::from_utf8(entry.file_name().as_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        path.clear();
        path.push_str(&format!("/proc/{pid}/fd"));
        let Ok(fds) = std::fs::read_dir(&path) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if target.as_os_str().as_bytes() != PROG_LINK {
                continue;
            }
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            if let Some(id) = prog_id(&info) {
                f(pid, id);
            }
        }
    }
    Ok(())
}

/// The `prog_id:` line of a program fd's fdinfo (None when the fd closed meanwhile).
fn prog_id(path: &str) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("prog_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The process's comm (its main thread's, as /proc/PID/comm shows it), without the
/// newline; None when it exited.
pub fn comm(pid: u32) -> Option<Vec<u8>> {
    let mut text = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    Some(text)
}

//! BPF_PROG_BIND_MAP and the user-space record of each program's used maps: updated under
//! the program's lock with every successful bind, reconciled with the kernel on request.

use std::collections::BTreeSet;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::sys::{self, info, FdCell};

mod open;
pub use open::{dup, open, pin, unpin_own, ObjectRef};

/// Which kind of bpf object an fd refers to, read from /proc/self/fdinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    Prog,
    Map,
    Other,
}

pub fn fd_kind(fd: BorrowedFd<'_>) -> FdKind {
    info::with_fdinfo(fd, |text| {
        if text.contains("\nprog_type:") {
            FdKind::Prog
        } else if text.contains("\nmap_type:") {
            FdKind::Map
        } else {
            FdKind::Other
        }
    })
    .unwrap_or(FdKind::Other)
}

/// A program held by this process: its fd, id, and the maps it holds as far as we know.
#[derive(Debug)]
pub struct ProgHandle {
    pub fd: FdCell,
    pub id: u32,
    used: Mutex<BTreeSet<u32>>,
}

/// A map held by this process.
#[derive(Debug)]
pub struct MapHandle {
    pub fd: FdCell,
    pub id: u32,
}

/// What `refresh` found: ids the kernel has that we did not record, and the reverse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub unrecorded: Vec<u32>,
    pub missing: Vec<u32>,
}

impl ProgHandle {
    /// A handle for a program fd whose id and map ids the caller read.
    pub fn from_parts(fd: OwnedFd, id: u32, map_ids: &[u32]) -> Self {
        ProgHandle {
            fd: FdCell::new(fd, "program"),
            id,
            used: Mutex::new(map_ids.iter().copied().collect()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn used_maps(&self) -> Vec<u32> {
        self.lock().iter().copied().collect()
    }

    /// Binds `map` to this program. The record is updated under the same lock as the
    /// syscall, so no reader sees a bind the record lacks, and two binds never interleave
    /// their updates.
    ///
    /// A map the record already holds is not bound again: the kernel never drops a map
    /// from a live program's used maps, and the map's id names that very map while our
    /// handle keeps it alive, so the syscall could only answer "already bound" (0).
    pub fn bind(&self, map: &MapHandle, flags: u32) -> Result<()> {
        let mut used = self.lock();
        if flags == 0 && used.contains(&map.id) {
            // Both handles must still be open, as the syscall would require.
            return self.fd.with(|_| map.fd.with(|_| Ok(())));
        }
        self.fd.with(|p| {
            map.fd
                .with(|m| sys::prog_bind_map(p, m, flags))
                .map_err(|e| explain_bind_error(e, flags))
        })?;
        used.insert(map.id);
        Ok(())
    }

    /// Reads the kernel's map ids, reports how the record differed, and adopts the kernel's.
    pub fn refresh(&self) -> Result<Divergence> {
        let mut used = self.lock();
        let mut ids = Vec::new();
        self.fd.with(|fd| info::prog_info(fd, &mut ids))?;
        let kernel: BTreeSet<u32> = ids.into_iter().collect();
        let d = Divergence {
            unrecorded: kernel.difference(&used).copied().collect(),
            missing: used.difference(&kernel).copied().collect(),
        };
        *used = kernel;
        Ok(d)
    }
}

impl MapHandle {
    pub fn from_parts(fd: OwnedFd, id: u32) -> Self {
        MapHandle {
            fd: FdCell::new(fd, "map"),
            id,
        }
    }
}

fn explain_bind_error(e: Error, flags: u32) -> Error {
    match e {
        Error::Sys { errno, .. } if errno == libc::EINVAL && flags != 0 => Error::sys(
            "BPF_PROG_BIND_MAP",
            errno,
            format!("flags {flags:#x}: the kernel accepts only 0"),
        ),
        Error::Sys { errno, .. } if errno == libc::EINVAL => {
            match crate::sys::features::features() {
                Ok(f) if !f.prog_bind_map => Error::BindMapUnsupported { errno },
                _ => e,
            }
        }
        other => other,
    }
}

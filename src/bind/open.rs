//! Programs and maps this process did not load: opened by id, pinned path or a caller's
//! fd (duplicated), checked to be of the kind asked for; pins made and removed by owner.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::{Error, Result};
use crate::sys::{self, info, FdCell, IdKind};

use super::{fd_kind, FdKind};

/// How a caller names a program or map.
#[derive(Debug, Clone)]
pub enum ObjectRef {
    Id(u32),
    Pin(String),
    /// An fd the caller keeps: the handle gets a duplicate.
    Fd(i32),
}

fn what(kind: IdKind) -> &'static str {
    if kind == IdKind::Prog {
        "program"
    } else {
        "map"
    }
}

/// A duplicate of a caller's fd (the caller keeps its own); a negative number is refused.
pub fn dup(fd: i32) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Error::Invalid(format!("{fd} is not a file descriptor")));
    }
    // SAFETY: the borrow lasts only for the duplication; a closed number fails with EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    crate::sys::dup(borrowed, &format!("fd {fd}"))
}

/// A new fd of the program or map `by` names; `NotFound` when no such id or pin exists,
/// `Invalid` when it is a bpf object of another kind.
pub fn open(kind: IdKind, by: &ObjectRef) -> Result<OwnedFd> {
    let what = what(kind);
    let fd = match by {
        ObjectRef::Id(id) => sys::fd_by_id(kind, *id)?
            .ok_or_else(|| Error::NotFound(format!("no {what} with id {id}")))?,
        ObjectRef::Pin(p) => sys::obj_get(p).map_err(|e| match e {
            Error::Sys {
                errno: libc::ENOENT,
                ..
            } => Error::NotFound(format!("nothing is pinned at {p}")),
            e => e,
        })?,
        ObjectRef::Fd(fd) => dup(*fd)?,
    };
    let want = if kind == IdKind::Prog {
        FdKind::Prog
    } else {
        FdKind::Map
    };
    if fd_kind(fd.as_fd()) != want {
        return Err(Error::Invalid(format!("that is not a BPF {what}")));
    }
    Ok(fd)
}

/// Pins the object of `cell` at `path`; `replace` pins over what is there (a temporary
/// pin renamed over it: the path never names nothing).
pub fn pin(cell: &FdCell, path: &str, replace: bool) -> Result<()> {
    if replace {
        cell.with(|fd| sys::obj_pin_replace(fd, path))
    } else {
        cell.with(|fd| sys::obj_pin(fd, path))
    }
}

/// Removes the pin at `path` if it pins the object `id` of `kind`; a pin of another
/// object is left alone and named in the error.
pub fn unpin_own(kind: IdKind, id: u32, path: &str) -> Result<()> {
    let fd = open(kind, &ObjectRef::Pin(path.to_string()))?;
    let pinned = match kind {
        IdKind::Prog => info::prog_info(fd.as_fd(), &mut Vec::new())?.id,
        _ => info::map_info(fd.as_fd())?.id,
    };
    if pinned != id {
        return Err(Error::Refused {
            errno: libc::EINVAL,
            msg: format!("{path} pins another object (id {pinned}), not this one (id {id})"),
        });
    }
    sys::obj_unpin(path)
}

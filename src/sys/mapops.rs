//! Map element commands: lookup, update, delete, next key, lookup-and-delete (queues and
//! stacks) and the batch commands, each answering ENOENT as "no such element" where the
//! caller needs to tell it from a failure.

use std::os::fd::BorrowedFd;

use super::{bpf, cmd_name, fd_u32, MapElemAttr};
use crate::error::{Error, Result};

pub const BPF_MAP_DELETE_ELEM: u32 = 3;
pub const BPF_MAP_GET_NEXT_KEY: u32 = 4;
pub const BPF_MAP_LOOKUP_AND_DELETE_ELEM: u32 = 21;
pub const BPF_MAP_LOOKUP_BATCH: u32 = 24;
pub const BPF_MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
pub const BPF_MAP_UPDATE_BATCH: u32 = 26;
pub const BPF_MAP_DELETE_BATCH: u32 = 27;
pub const BPF_ENABLE_STATS: u32 = 32;

/// `union bpf_attr`'s `batch` member.
#[repr(C)]
#[derive(Default)]
pub struct BatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// A pointer the kernel may read, or 0 (NULL) for an empty slice (queue and stack keys).
fn ptr(b: &[u8]) -> u64 {
    if b.is_empty() {
        0
    } else {
        b.as_ptr() as u64
    }
}

fn elem(
    cmd: u32,
    map: BorrowedFd<'_>,
    key: &[u8],
    value: u64,
    flags: u64,
) -> std::result::Result<(), i32> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map),
        key: ptr(key),
        value,
        flags,
        ..Default::default()
    };
    bpf(cmd, &mut attr).map(|_| ())
}

/// Looks `key` up into `value` (the map's whole value: all CPUs of a per-CPU map); false
/// when there is no such element.
pub fn lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8], flags: u64) -> Result<bool> {
    let cmd = super::BPF_MAP_LOOKUP_ELEM;
    match elem(cmd, map, key, value.as_mut_ptr() as u64, flags) {
        Ok(()) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(Error::sys(cmd_name(cmd), errno, String::new())),
    }
}

/// Updates (or pushes, with an empty key) an element; `flags` is BPF_ANY/NOEXIST/EXIST.
pub fn update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
    let cmd = super::BPF_MAP_UPDATE_ELEM;
    elem(cmd, map, key, value.as_ptr() as u64, flags)
        .map_err(|errno| Error::sys(cmd_name(cmd), errno, update_context(errno, flags)))
}

fn update_context(errno: i32, flags: u64) -> String {
    match (errno, flags) {
        (libc::EEXIST, 1) => "the key exists (flags=noexist)".into(),
        (libc::ENOENT, 2) => "no such key (flags=exist)".into(),
        (libc::E2BIG, _) => "the map is full".into(),
        _ => String::new(),
    }
}

/// Deletes `key`; false when there was no such element.
pub fn delete(map: BorrowedFd<'_>, key: &[u8]) -> Result<bool> {
    match elem(BPF_MAP_DELETE_ELEM, map, key, 0, 0) {
        Ok(()) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(Error::sys("BPF_MAP_DELETE_ELEM", errno, String::new())),
    }
}

/// The key after `key` (the first key when `key` is None or no longer in the map, as the
/// kernel answers for hash maps) into `next`; false at the end.
pub fn next_key(map: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map),
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(Error::sys("BPF_MAP_GET_NEXT_KEY", errno, String::new())),
    }
}

/// Pops the head of a queue or stack into `value`; false when it is empty.
pub fn lookup_and_delete(map: BorrowedFd<'_>, value: &mut [u8]) -> Result<bool> {
    match elem(
        BPF_MAP_LOOKUP_AND_DELETE_ELEM,
        map,
        &[],
        value.as_mut_ptr() as u64,
        0,
    ) {
        Ok(()) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(Error::sys(
            "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            errno,
            String::new(),
        )),
    }
}

/// What one batch command did: how many elements, and whether the map has no more
/// (ENOENT with the count filled in).
pub struct Batch {
    pub count: usize,
    pub done: bool,
}

fn batch_name(cmd: u32) -> &'static str {
    match cmd {
        BPF_MAP_LOOKUP_BATCH => "BPF_MAP_LOOKUP_BATCH",
        BPF_MAP_LOOKUP_AND_DELETE_BATCH => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        BPF_MAP_UPDATE_BATCH => "BPF_MAP_UPDATE_BATCH",
        _ => "BPF_MAP_DELETE_BATCH",
    }
}

/// BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE with `delete`): up to `max` elements after
/// the position `token` holds (None: the start) into `keys` and `values`; `out_token`
/// (the map's key size, 8 bytes at least) receives the position to continue from.
pub fn lookup_batch(
    map: BorrowedFd<'_>,
    delete: bool,
    token: Option<&[u8]>,
    out_token: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    max: usize,
) -> Result<Batch> {
    let cmd = if delete {
        BPF_MAP_LOOKUP_AND_DELETE_BATCH
    } else {
        BPF_MAP_LOOKUP_BATCH
    };
    let mut attr = BatchAttr {
        in_batch: token.map_or(0, |t| t.as_ptr() as u64),
        out_batch: out_token.as_mut_ptr() as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: max as u32,
        map_fd: fd_u32(map),
        ..Default::default()
    };
    match bpf(cmd, &mut attr) {
        Ok(_) => Ok(Batch {
            count: attr.count as usize,
            done: false,
        }),
        Err(libc::ENOENT) => Ok(Batch {
            count: attr.count as usize,
            done: true,
        }),
        Err(errno) => Err(Error::sys(batch_name(cmd), errno, String::new())),
    }
}

/// BPF_MAP_UPDATE_BATCH of `count` keys and values with `elem_flags`; returns how many
/// the kernel stored when it failed part-way, with the error.
pub fn update_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: usize,
    elem_flags: u64,
) -> std::result::Result<(), (usize, Error)> {
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count: count as u32,
        map_fd: fd_u32(map),
        elem_flags,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_BATCH, &mut attr)
        .map(|_| ())
        .map_err(|errno| {
            (
                attr.count as usize,
                Error::sys(
                    "BPF_MAP_UPDATE_BATCH",
                    errno,
                    update_context(errno, elem_flags),
                ),
            )
        })
}

/// BPF_MAP_DELETE_BATCH of `count` keys; as `update_batch`.
pub fn delete_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    count: usize,
) -> std::result::Result<(), (usize, Error)> {
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        count: count as u32,
        map_fd: fd_u32(map),
        ..Default::default()
    };
    bpf(BPF_MAP_DELETE_BATCH, &mut attr)
        .map(|_| ())
        .map_err(|errno| {
            (
                attr.count as usize,
                Error::sys("BPF_MAP_DELETE_BATCH", errno, String::new()),
            )
        })
}

/// Whether a batch command's errno says the map type has no batch operations (so the
/// caller falls back to one element at a time) rather than that the call failed.
pub fn batch_unsupported(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(libc::EINVAL | libc::ENOTSUP | 524 /* ENOTSUPP */)
    )
}

/// BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): while the returned fd is open the kernel counts
/// every program's runs and run time.
pub fn enable_stats() -> Result<std::os::fd::OwnedFd> {
    #[repr(C)]
    struct StatsAttr {
        stats_type: u32,
    }
    let mut attr = StatsAttr { stats_type: 0 };
    super::bpf_fd(BPF_ENABLE_STATS, &mut attr, || "BPF_STATS_RUN_TIME".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_attr_matches_uapi() {
        assert_eq!(std::mem::offset_of!(BatchAttr, count), 32);
        assert_eq!(std::mem::offset_of!(BatchAttr, elem_flags), 40);
        assert_eq!(std::mem::size_of::<BatchAttr>(), 56);
    }
}

//! The one place that calls bpf(2): attr layouts, command numbers, and typed wrappers that
//! return `OwnedFd`s and `Error::Sys` values naming the command and errno.

mod attr;
mod fdcell;
pub mod features;
pub mod info;
pub mod insn;
pub mod link;
pub mod mapops;
pub mod perf;
pub mod perfbuf;
pub mod procfs;
pub mod ringbuf;
pub mod uapi;
pub use fdcell::FdCell;

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub use attr::*;

use crate::error::{Error, Result};

pub const BPF_MAP_CREATE: u32 = 0;
pub const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub const BPF_MAP_UPDATE_ELEM: u32 = 2;
pub const BPF_PROG_LOAD: u32 = 5;
pub const BPF_OBJ_PIN: u32 = 6;
pub const BPF_OBJ_GET: u32 = 7;
pub const BPF_PROG_TEST_RUN: u32 = 10;
pub const BPF_PROG_GET_NEXT_ID: u32 = 11;
pub const BPF_MAP_GET_NEXT_ID: u32 = 12;
pub const BPF_PROG_GET_FD_BY_ID: u32 = 13;
pub const BPF_MAP_GET_FD_BY_ID: u32 = 14;
pub const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub const BPF_BTF_LOAD: u32 = 18;
pub const BPF_BTF_GET_FD_BY_ID: u32 = 19;
pub const BPF_MAP_FREEZE: u32 = 22;
pub const BPF_BTF_GET_NEXT_ID: u32 = 23;
pub const BPF_LINK_CREATE: u32 = 28;
pub const BPF_ITER_CREATE: u32 = 33;
pub const BPF_PROG_BIND_MAP: u32 = 35;

pub const BPF_F_RDONLY: u32 = 1 << 3;
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

pub use uapi::{
    BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_KPROBE, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_TRACING,
    BPF_TRACE_ITER,
};

pub const BPF_PSEUDO_MAP_FD: u8 = 1;
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// ld_imm64 of a kernel variable (typed ksym): imm = BTF id, next imm = BTF object fd.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// A call of a kfunc: imm = BTF id of the FUNC, off = fd_array index of its BTF (0: vmlinux).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// A BPF-to-BPF call: imm = instructions from the next one to the callee.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// ld_imm64 of a subprogram's address (a callback): imm as for BPF_PSEUDO_CALL.
pub const BPF_PSEUDO_FUNC: u8 = 4;

/// The name a command goes by in errors, as the uapi header spells it.
pub fn cmd_name(cmd: u32) -> &'static str {
    match cmd {
        BPF_MAP_CREATE => "BPF_MAP_CREATE",
        BPF_MAP_LOOKUP_ELEM => "BPF_MAP_LOOKUP_ELEM",
        BPF_MAP_UPDATE_ELEM => "BPF_MAP_UPDATE_ELEM",
        BPF_PROG_LOAD => "BPF_PROG_LOAD",
        BPF_OBJ_PIN => "BPF_OBJ_PIN",
        BPF_OBJ_GET => "BPF_OBJ_GET",
        BPF_PROG_TEST_RUN => "BPF_PROG_TEST_RUN",
        BPF_PROG_GET_NEXT_ID => "BPF_PROG_GET_NEXT_ID",
        BPF_MAP_GET_NEXT_ID => "BPF_MAP_GET_NEXT_ID",
        BPF_PROG_GET_FD_BY_ID => "BPF_PROG_GET_FD_BY_ID",
        BPF_MAP_GET_FD_BY_ID => "BPF_MAP_GET_FD_BY_ID",
        BPF_OBJ_GET_INFO_BY_FD => "BPF_OBJ_GET_INFO_BY_FD",
        BPF_BTF_LOAD => "BPF_BTF_LOAD",
        BPF_BTF_GET_FD_BY_ID => "BPF_BTF_GET_FD_BY_ID",
        BPF_MAP_FREEZE => "BPF_MAP_FREEZE",
        BPF_BTF_GET_NEXT_ID => "BPF_BTF_GET_NEXT_ID",
        BPF_LINK_CREATE => "BPF_LINK_CREATE",
        BPF_ITER_CREATE => "BPF_ITER_CREATE",
        BPF_PROG_BIND_MAP => "BPF_PROG_BIND_MAP",
        mapops::BPF_MAP_DELETE_ELEM => "BPF_MAP_DELETE_ELEM",
        mapops::BPF_MAP_GET_NEXT_KEY => "BPF_MAP_GET_NEXT_KEY",
        mapops::BPF_MAP_LOOKUP_AND_DELETE_ELEM => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        mapops::BPF_ENABLE_STATS => "BPF_ENABLE_STATS",
        link::BPF_RAW_TRACEPOINT_OPEN => "BPF_RAW_TRACEPOINT_OPEN",
        link::BPF_LINK_GET_FD_BY_ID => "BPF_LINK_GET_FD_BY_ID",
        link::BPF_LINK_GET_NEXT_ID => "BPF_LINK_GET_NEXT_ID",
        _ => "bpf",
    }
}

/// The raw syscall. Every bpf(2) call of the crate goes through here; EINTR is retried a
/// bounded number of times so a signal storm surfaces as an error instead of a hang.
fn bpf<T>(cmd: u32, attr: &mut T) -> std::result::Result<i64, i32> {
    bpf_sized(cmd, attr, std::mem::size_of::<T>())
}

/// bpf(2) with an attr size below `T`'s: the kernel then sees only the fields before `size`,
/// and an older kernel does not refuse a tail it does not know.
fn bpf_sized<T>(cmd: u32, attr: &mut T, size: usize) -> std::result::Result<i64, i32> {
    debug_assert!(size <= std::mem::size_of::<T>());
    let mut tries = 0;
    loop {
        // SAFETY: `attr` is a #[repr(C)] attr struct of the layout `cmd` expects, valid for
        // its whole size; the kernel reads at most `size_of::<T>()` bytes from it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr as *mut T as *mut libc::c_void,
                size as libc::c_long,
            )
        };
        if ret >= 0 {
            return Ok(ret);
        }
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        tries += 1;
        if (errno == libc::EINTR || errno == libc::EAGAIN) && tries < 8 {
            continue;
        }
        return Err(errno);
    }
}

fn bpf_fd<T>(cmd: u32, attr: &mut T, context: impl FnOnce() -> String) -> Result<OwnedFd> {
    match bpf(cmd, attr) {
        // SAFETY: on success these commands return a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(errno) => Err(Error::sys(cmd_name(cmd), errno, context())),
    }
}

fn bpf_ok<T>(cmd: u32, attr: &mut T, context: impl FnOnce() -> String) -> Result<()> {
    bpf(cmd, attr)
        .map(|_| ())
        .map_err(|errno| Error::sys(cmd_name(cmd), errno, context()))
}

/// Copies `name` into a kernel object name, truncated to 15 bytes and NUL-terminated.
/// A new fd of `fd`'s file; `context` names it in the error.
pub fn dup(fd: BorrowedFd<'_>, context: &str) -> Result<OwnedFd> {
    fd.try_clone_to_owned().map_err(|e| {
        Error::sys(
            "dup",
            e.raw_os_error().unwrap_or(libc::EBADF),
            context.to_string(),
        )
    })
}

pub fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (dst, src) in out.iter_mut().zip(name.bytes().take(15)) {
        *dst = src;
    }
    out
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

#[derive(Default)]
pub struct MapCreate<'a> {
    pub name: &'a str,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub btf: Option<BorrowedFd<'a>>,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub numa_node: u32,
    pub map_extra: u64,
    /// A map-in-map's inner map template.
    pub inner_map: Option<BorrowedFd<'a>>,
    /// A struct_ops map's value type in the kernel's BTF.
    pub btf_vmlinux_value_type_id: u32,
}

pub fn map_create(spec: &MapCreate<'_>) -> Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.flags,
        map_name: obj_name(spec.name),
        numa_node: spec.numa_node,
        map_extra: spec.map_extra,
        inner_map_fd: spec.inner_map.map_or(0, fd_u32),
        btf_vmlinux_value_type_id: spec.btf_vmlinux_value_type_id,
        ..Default::default()
    };
    if let Some(btf) = spec.btf {
        // A struct_ops map names its kernel value type, and carries the object's BTF.
        attr.btf_fd = fd_u32(btf);
        attr.btf_key_type_id = spec.btf_key_type_id;
        attr.btf_value_type_id = spec.btf_value_type_id;
    }
    bpf_fd(BPF_MAP_CREATE, &mut attr, || format!("map '{}'", spec.name))
}

pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map),
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    bpf_ok(BPF_MAP_UPDATE_ELEM, &mut attr, String::new)
}

/// Looks `key` up into `value`, which must be exactly the map's value size.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map),
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    bpf_ok(BPF_MAP_LOOKUP_ELEM, &mut attr, String::new)
}

pub fn map_freeze(map: BorrowedFd<'_>) -> Result<()> {
    let mut attr = FdAttr { fd: fd_u32(map) };
    bpf_ok(BPF_MAP_FREEZE, &mut attr, String::new)
}

/// Loads a BTF blob; on failure the BTF verifier's log is part of the error.
pub fn btf_load(data: &[u8]) -> Result<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf: data.as_ptr() as u64,
        btf_size: data.len() as u32,
        ..Default::default()
    };
    match bpf_fd(BPF_BTF_LOAD, &mut attr, String::new) {
        Ok(fd) => return Ok(fd),
        // Privileges, memory: no log would explain those.
        Err(e) if e.errno() != Some(libc::EINVAL) => return Err(e),
        Err(_) => {}
    }
    // Only pay for a log when the first attempt failed.
    let mut log = vec![0u8; 1 << 20];
    attr.btf_log_buf = log.as_mut_ptr() as u64;
    attr.btf_log_size = log.len() as u32;
    attr.btf_log_level = 1;
    bpf_fd(BPF_BTF_LOAD, &mut attr, || {
        let text = c_text(&log);
        match text.trim_end() {
            "" => "the kernel refused the object's BTF".to_string(),
            t => format!("the kernel refused the object's BTF: {t}"),
        }
    })
}

pub struct ProgLoad<'a> {
    pub name: &'a str,
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub insns: &'a [u64],
    pub license: &'a str,
    pub kern_version: u32,
    pub btf: Option<BorrowedFd<'a>>,
    /// Raw func_info / line_info records (8 / 16 bytes each, insn_off in instructions).
    pub func_info: &'a [u8],
    pub line_info: &'a [u8],
    pub attach_btf_id: u32,
    /// BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, ...
    pub prog_flags: u32,
    /// fds the program refers to by index (kfuncs' module BTF), and maps bound at load;
    /// empty for none.
    pub fd_array: &'a [RawFd],
    /// Whether to pass `fd_array_cnt` (Linux 6.14+), which makes the kernel take every
    /// map and BTF of the array as used by the program.
    pub count_fd_array: bool,
}

impl<'a> ProgLoad<'a> {
    /// A GPL program of `prog_type` with no BTF, attach point or fd array: the shape of
    /// the programs bpfbind writes itself (feature probes, the scan's iterators).
    pub fn gpl(name: &'a str, prog_type: u32, insns: &'a [u64]) -> Self {
        ProgLoad {
            name,
            prog_type,
            expected_attach_type: 0,
            insns,
            license: "GPL",
            kern_version: 0,
            btf: None,
            func_info: &[],
            line_info: &[],
            attach_btf_id: 0,
            prog_flags: 0,
            fd_array: &[],
            count_fd_array: false,
        }
    }
}

/// BPF_PROG_LOAD. A rejection becomes `Error::Verifier` with the whole log: the load is
/// retried with a log buffer that grows until the log fits (ENOSPC).
pub fn prog_load(spec: &ProgLoad<'_>) -> Result<OwnedFd> {
    let license = CString::new(spec.license)
        .map_err(|_| Error::Invalid("license contains a NUL byte".into()))?;
    let mut attr = ProgLoadAttr {
        prog_type: spec.prog_type,
        insn_cnt: spec.insns.len() as u32,
        insns: spec.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        kern_version: spec.kern_version,
        prog_name: obj_name(spec.name),
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        prog_flags: spec.prog_flags,
        ..Default::default()
    };
    if let Some(btf) = spec.btf {
        attr.prog_btf_fd = fd_u32(btf);
        if !spec.func_info.is_empty() {
            attr.func_info_rec_size = 8;
            attr.func_info = spec.func_info.as_ptr() as u64;
            attr.func_info_cnt = (spec.func_info.len() / 8) as u32;
        }
        if !spec.line_info.is_empty() {
            attr.line_info_rec_size = 16;
            attr.line_info = spec.line_info.as_ptr() as u64;
            attr.line_info_cnt = (spec.line_info.len() / 16) as u32;
        }
    }
    // Without fd_array_cnt the attr ends before it (size 148), as it did before Linux 6.14.
    let mut size = std::mem::offset_of!(ProgLoadAttr, fd_array_cnt);
    if !spec.fd_array.is_empty() {
        attr.fd_array = spec.fd_array.as_ptr() as u64;
        if spec.count_fd_array {
            attr.fd_array_cnt = spec.fd_array.len() as u32;
            size = std::mem::size_of::<ProgLoadAttr>();
        }
    }
    let attr_size = size;
    let first = match bpf_sized(BPF_PROG_LOAD, &mut attr, attr_size) {
        // SAFETY: a new program fd owned by nobody else.
        Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(errno) => errno,
    };
    if !verifier_verdict(first) {
        // Not the verifier's verdict (EPERM, E2BIG, ENOMEM, EINTR...): no log explains it.
        return Err(Error::sys(
            "BPF_PROG_LOAD",
            first,
            format!("program '{}'", spec.name),
        ));
    }
    let mut size = 64 * 1024usize;
    loop {
        let mut log = vec![0u8; size];
        attr.log_level = 1;
        attr.log_buf = log.as_mut_ptr() as u64;
        attr.log_size = size as u32;
        match bpf_sized(BPF_PROG_LOAD, &mut attr, attr_size) {
            // SAFETY: as above.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(libc::ENOSPC) if size < (1 << 30) => {
                size = (attr.log_true_size as usize).max(size * 4).min(1 << 30);
                continue;
            }
            Err(errno) if !verifier_verdict(errno) => {
                return Err(Error::sys(
                    "BPF_PROG_LOAD",
                    errno,
                    format!("program '{}'", spec.name),
                ));
            }
            Err(errno) => {
                return Err(Error::Verifier {
                    program: spec.name.to_string(),
                    errno,
                    log: c_text(&log),
                    hint: String::new(),
                })
            }
        }
    }
}

/// The errnos a verifier log explains: EACCES and EINVAL, and ENOENT for a BTF id or
/// kernel symbol the verifier cannot find (a typed ksym without a kallsyms address).
fn verifier_verdict(errno: i32) -> bool {
    matches!(errno, libc::EACCES | libc::EINVAL | libc::ENOENT)
}

fn c_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn c_path(path: &str) -> Result<CString> {
    CString::new(path).map_err(|_| Error::Invalid(format!("path {path:?} contains a NUL byte")))
}

/// bpffs's magic number (statfs f_type).
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Whether `path` (or, for a path to create, its directory) is on a bpf file system;
/// None when it cannot be told (the directory is missing too).
fn in_bpffs(path: &str) -> Option<bool> {
    let p = std::path::Path::new(path);
    let probe = if p.exists() { p } else { p.parent()? };
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a zeroed statfs is valid; statfs writes it and reads a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_type as i64 == BPF_FS_MAGIC)
}

/// A pin or pinned-object error on a path outside bpffs says so, as bpftool does,
/// instead of the kernel's bare EPERM/EACCES.
fn outside_bpffs(e: Error, path: &str) -> Error {
    match e.errno() {
        Some(libc::EPERM | libc::EACCES | libc::EINVAL) if in_bpffs(path) == Some(false) => {
            Error::Refused {
                errno: e.errno().unwrap_or(libc::EPERM),
                msg: format!(
                    "{path} is not in a bpf file system (bpffs): mount one with \
                     'mount -t bpf bpf /sys/fs/bpf'"
                ),
            }
        }
        _ => e,
    }
}

pub fn obj_pin(fd: BorrowedFd<'_>, path: &str) -> Result<()> {
    let cpath = c_path(path)?;
    let mut attr = ObjPinAttr {
        pathname: cpath.as_ptr() as u64,
        bpf_fd: fd_u32(fd),
        ..Default::default()
    };
    bpf_ok(BPF_OBJ_PIN, &mut attr, || format!("pin at {path}")).map_err(|e| match e {
        Error::Sys {
            errno: libc::EEXIST,
            cmd,
            ..
        } => Error::sys(
            cmd,
            libc::EEXIST,
            format!("pin at {path}: something is pinned there already; replace=True replaces it"),
        ),
        e => outside_bpffs(e, path),
    })
}

/// A name next to `path`, in the same directory (so on the same bpffs), that no other
/// pin uses: where a replacing pin goes before it is renamed over `path`.
pub fn temp_pin_path(path: &str) -> Result<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let p = std::path::Path::new(path);
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Invalid(format!("pin path {path} names no file")))?;
    // bpffs refuses names with a dot (reserved for its own files): none here.
    let tmp = format!(
        "{name}~bpfbind-tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    Ok(p.with_file_name(tmp).to_string_lossy().into_owned())
}

/// rename(2) of a pin within its bpffs directory: atomic, so `to` names the old object
/// until it names the new one.
pub fn rename_pin(from: &str, to: &str) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        Error::sys(
            "rename",
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("{from} to {to}"),
        )
    })
}

/// Pins `fd` at `path`, replacing whatever is pinned there: pinned under a temporary name
/// in the same directory, then renamed over `path`, so that no moment exists at which
/// `path` names nothing. A failure removes the temporary pin.
pub fn obj_pin_replace(fd: BorrowedFd<'_>, path: &str) -> Result<()> {
    let tmp = temp_pin_path(path)?;
    obj_pin(fd, &tmp).map_err(|e| outside_bpffs(e, path))?;
    rename_pin(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Removes the pin at `path` (unlink(2)); the object lives on while anything holds it.
pub fn obj_unpin(path: &str) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| {
        Error::sys(
            "unlink",
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("pin {path}"),
        )
    })
}

pub fn obj_get(path: &str) -> Result<OwnedFd> {
    let cpath = c_path(path)?;
    let mut attr = ObjPinAttr {
        pathname: cpath.as_ptr() as u64,
        ..Default::default()
    };
    bpf_fd(BPF_OBJ_GET, &mut attr, || format!("pinned path {path}"))
        .map_err(|e| outside_bpffs(e, path))
}

pub fn prog_bind_map(prog: BorrowedFd<'_>, map: BorrowedFd<'_>, flags: u32) -> Result<()> {
    let mut attr = BindMapAttr {
        prog_fd: fd_u32(prog),
        map_fd: fd_u32(map),
        flags,
    };
    bpf_ok(BPF_PROG_BIND_MAP, &mut attr, String::new)
}

/// Which id space a *_GET_NEXT_ID / *_GET_FD_BY_ID call walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Prog,
    Map,
    Btf,
    Link,
}

impl IdKind {
    fn next_cmd(self) -> u32 {
        match self {
            IdKind::Prog => BPF_PROG_GET_NEXT_ID,
            IdKind::Map => BPF_MAP_GET_NEXT_ID,
            IdKind::Btf => BPF_BTF_GET_NEXT_ID,
            IdKind::Link => link::BPF_LINK_GET_NEXT_ID,
        }
    }
    fn fd_cmd(self) -> u32 {
        match self {
            IdKind::Prog => BPF_PROG_GET_FD_BY_ID,
            IdKind::Map => BPF_MAP_GET_FD_BY_ID,
            IdKind::Btf => BPF_BTF_GET_FD_BY_ID,
            IdKind::Link => link::BPF_LINK_GET_FD_BY_ID,
        }
    }
}

/// The next id after `start`, or None at the end (ENOENT).
pub fn next_id(kind: IdKind, start: u32) -> Result<Option<u32>> {
    let mut attr = IdAttr {
        id: start,
        ..Default::default()
    };
    match bpf(kind.next_cmd(), &mut attr) {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(libc::ENOENT) => Ok(None),
        Err(errno) => Err(Error::sys(cmd_name(kind.next_cmd()), errno, String::new())),
    }
}

/// An fd for the object with `id`, or None when it no longer exists (ENOENT): objects
/// vanish between NEXT_ID and GET_FD_BY_ID all the time.
pub fn fd_by_id(kind: IdKind, id: u32) -> Result<Option<OwnedFd>> {
    let mut attr = IdAttr {
        id,
        ..Default::default()
    };
    match bpf(kind.fd_cmd(), &mut attr) {
        // SAFETY: a new fd owned by nobody else.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })),
        Err(libc::ENOENT) => Ok(None),
        Err(errno) => Err(Error::sys(
            cmd_name(kind.fd_cmd()),
            errno,
            format!("id {id}"),
        )),
    }
}

/// OBJ_GET_INFO_BY_FD into `info` (a #[repr(C)] info struct); returns the length the kernel
/// wrote.
pub fn obj_info<T>(fd: BorrowedFd<'_>, info: &mut T) -> Result<u32> {
    let mut attr = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: std::mem::size_of::<T>() as u32,
        info: info as *mut T as u64,
    };
    bpf_ok(BPF_OBJ_GET_INFO_BY_FD, &mut attr, String::new)?;
    Ok(attr.info_len)
}

/// The running kernel's BTF, as /sys/kernel/btf/vmlinux holds it; `why` says who needs it.
pub fn vmlinux_btf_bytes(why: &str) -> Result<Vec<u8>> {
    std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| {
        Error::sys(
            "open",
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("/sys/kernel/btf/vmlinux (the kernel's BTF, needed for {why})"),
        )
    })
}

/// Bytes of a file: mapped read-only where the file allows it (the kernel's BTF does
/// since Linux 6.16, which saves copying 5 MB), else read.
pub enum FileBytes {
    Owned(Vec<u8>),
    Mapped { ptr: *mut libc::c_void, len: usize },
}

// SAFETY: the mapping is private, read-only and owned by this value alone.
unsafe impl Send for FileBytes {}
unsafe impl Sync for FileBytes {}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Owned(v) => v,
            // SAFETY: `ptr` maps `len` readable bytes until drop.
            FileBytes::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(*ptr as *const u8, *len)
            },
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let FileBytes::Mapped { ptr, len } = self {
            // SAFETY: unmapping what mmap returned, once.
            unsafe { libc::munmap(*ptr, *len) };
        }
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(v: Vec<u8>) -> Self {
        FileBytes::Owned(v)
    }
}

/// The kernel's BTF (/sys/kernel/btf/vmlinux) for the life of the process: mapped where
/// the kernel allows it (no 5 MB copy), else read. Call it once per process.
pub fn vmlinux_btf_static(why: &str) -> Result<std::borrow::Cow<'static, [u8]>> {
    let bytes: &'static FileBytes = Box::leak(Box::new(vmlinux_btf_mapped(why)?));
    Ok(std::borrow::Cow::Borrowed(&bytes[..]))
}

/// The kernel's BTF (/sys/kernel/btf/vmlinux), mapped where the kernel allows it.
pub fn vmlinux_btf_mapped(why: &str) -> Result<FileBytes> {
    use std::os::fd::AsRawFd;
    if let Ok(f) = std::fs::File::open("/sys/kernel/btf/vmlinux") {
        let len = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
        if len > 0 {
            // SAFETY: a fresh private read-only mapping of an open file; checked below.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    f.as_raw_fd(),
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                return Ok(FileBytes::Mapped { ptr, len });
            }
        }
    }
    vmlinux_btf_bytes(why).map(FileBytes::Owned)
}

/// The number of possible CPUs (/sys/devices/system/cpu/possible, e.g. "0-1,4"): what
/// libbpf sizes a perf event array declared without max_entries to.
pub fn possible_cpus() -> Result<u32> {
    const PATH: &str = "/sys/devices/system/cpu/possible";
    let text = std::fs::read_to_string(PATH)
        .map_err(|e| Error::sys("open", e.raw_os_error().unwrap_or(libc::EIO), PATH))?;
    parse_cpu_list(text.trim()).ok_or_else(|| Error::Refused {
        errno: libc::EINVAL,
        msg: format!("cannot read the CPU list {text:?} of {PATH}"),
    })
}

/// "0-3,8,10-11" -> 7 CPUs.
pub fn parse_cpu_list(s: &str) -> Option<u32> {
    let mut n: u32 = 0;
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let v = part.trim().parse::<u32>().ok()?;
                (v, v)
            }
        };
        n = n.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
    }
    (n > 0).then_some(n)
}

/// BPF_LINK_CREATE of an iterator program (BPF_TRACE_ITER) that takes no parameters.
pub fn iter_link_create(prog: BorrowedFd<'_>, what: &str) -> Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: fd_u32(prog),
        attach_type: BPF_TRACE_ITER,
        ..Default::default()
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr, || {
        format!("{what}: iterator link")
    })
}

/// BPF_ITER_CREATE: a readable fd that runs the iterator behind `link` as it is read.
pub fn iter_create(link: BorrowedFd<'_>, what: &str) -> Result<OwnedFd> {
    let mut attr = IterCreateAttr {
        link_fd: fd_u32(link),
        flags: 0,
    };
    bpf_fd(BPF_ITER_CREATE, &mut attr, || format!("{what}: iterator"))
}

/// One read(2) from an iterator fd; 0 at the end. EINTR is retried.
pub fn iter_read(fd: BorrowedFd<'_>, buf: &mut [u8], what: &str) -> Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its whole length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        if errno != libc::EINTR {
            return Err(Error::sys("read", errno, format!("{what}: iterator")));
        }
    }
}

pub struct TestRun {
    pub retval: u32,
    pub duration_ns: u32,
}

pub fn prog_test_run(prog: BorrowedFd<'_>, data: &[u8], repeat: u32) -> Result<TestRun> {
    let mut out = vec![0u8; data.len() + 256];
    let mut attr = TestRunAttr {
        prog_fd: fd_u32(prog),
        data_size_in: data.len() as u32,
        data_size_out: out.len() as u32,
        data_in: data.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat,
        ..Default::default()
    };
    bpf_ok(BPF_PROG_TEST_RUN, &mut attr, String::new)?;
    Ok(TestRun {
        retval: attr.retval,
        duration_ns: attr.duration,
    })
}

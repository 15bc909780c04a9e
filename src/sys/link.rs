//! BPF links: BPF_LINK_CREATE for every target kind, BPF_RAW_TRACEPOINT_OPEN, link info,
//! socket filters (SO_ATTACH_BPF), and the tracefs and netdev look-ups attaches need.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{bpf, bpf_fd, fd_u32, obj_info, LinkCreateAttr, LinkInfo, RawTracepointOpenAttr};
use crate::error::{Error, Result};

pub const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;
pub const BPF_LINK_GET_FD_BY_ID: u32 = 30;
pub const BPF_LINK_GET_NEXT_ID: u32 = 31;

/// `enum bpf_link_type`.
pub mod link_type {
    pub const RAW_TRACEPOINT: u32 = 1;
    pub const TRACING: u32 = 2;
    pub const CGROUP: u32 = 3;
    pub const ITER: u32 = 4;
    pub const NETNS: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const KPROBE_MULTI: u32 = 8;
    pub const STRUCT_OPS: u32 = 9;
    pub const NETFILTER: u32 = 10;
    pub const TCX: u32 = 11;
    pub const UPROBE_MULTI: u32 = 12;
    pub const NETKIT: u32 = 13;
    pub const SOCKMAP: u32 = 14;
}

/// bpftool's names of link types, by number.
pub const LINK_TYPES: &[&str] = &[
    "unspec",
    "raw_tracepoint",
    "tracing",
    "cgroup",
    "iter",
    "netns",
    "xdp",
    "perf_event",
    "kprobe_multi",
    "struct_ops",
    "netfilter",
    "tcx",
    "uprobe_multi",
    "netkit",
    "sockmap",
];

/// BPF_LINK_CREATE. `data` is the per-type union at offset 16; `what` names the target
/// in errors ("xdp on ifindex 3").
pub fn link_create(
    prog: BorrowedFd<'_>,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    data: [u64; 6],
    what: &str,
) -> Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: fd_u32(prog),
        target_fd,
        attach_type,
        flags,
        data,
    };
    bpf_fd(super::BPF_LINK_CREATE, &mut attr, || what.to_string())
}

/// BPF_RAW_TRACEPOINT_OPEN: a raw tracepoint by name, or (no name) the target a tracing
/// or LSM program was loaded against (tp_btf, fentry, fexit, fmod_ret, lsm).
pub fn raw_tracepoint_open(
    prog: BorrowedFd<'_>,
    name: Option<&str>,
    what: &str,
) -> Result<OwnedFd> {
    let cname = name
        .map(|n| {
            CString::new(n)
                .map_err(|_| Error::Invalid(format!("tracepoint name {n:?} contains a NUL")))
        })
        .transpose()?;
    let mut attr = RawTracepointOpenAttr {
        name: cname.as_ref().map_or(0, |c| c.as_ptr() as u64),
        prog_fd: fd_u32(prog),
        _pad: 0,
    };
    match bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr) {
        // SAFETY: a new link fd owned by nobody else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(errno) => Err(Error::sys(
            "BPF_RAW_TRACEPOINT_OPEN",
            errno,
            what.to_string(),
        )),
    }
}

/// A link's info, with the name its type carries (a raw tracepoint's, an iterator's
/// target, a probed function or file) read in a second pass.
#[derive(Debug, Clone, Default)]
pub struct LinkDetails {
    pub info: LinkInfo,
    pub name: Option<String>,
}

/// Where each link type keeps a name: (offset of the pointer, offset of its length) in
/// the union, for the perf_event kinds after their own sub-type word.
fn name_slot(info: &LinkInfo) -> Option<(usize, usize)> {
    match info.link_type {
        link_type::RAW_TRACEPOINT | link_type::ITER => Some((0, 8)),
        // perf_event: type at 0, then file_name/func_name/tp_name at 8, its length at 16
        // (the `event` kind has none).
        link_type::PERF_EVENT if (1..=4).contains(&info.u32_at(0)) => Some((8, 16)),
        _ => None,
    }
}

pub fn link_info(fd: BorrowedFd<'_>) -> Result<LinkDetails> {
    let mut info = LinkInfo::default();
    obj_info(fd, &mut info)?;
    let Some((ptr_off, len_off)) = name_slot(&info) else {
        return Ok(LinkDetails { info, name: None });
    };
    let mut buf = vec![0u8; 4096];
    let mut again = LinkInfo::default();
    again.data[ptr_off / 8] = buf.as_mut_ptr() as u64;
    again.set_u32(len_off, buf.len() as u32);
    if info.link_type == link_type::PERF_EVENT {
        again.set_u32(0, info.u32_at(0));
    }
    obj_info(fd, &mut again)?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    // The buffer pointer is ours, not a value: leave the kernel's other fields.
    again.data[ptr_off / 8] = 0;
    Ok(LinkDetails {
        info: again,
        name: Some(name),
    })
}

/// BPF_LINK_GET_NEXT_ID: the next link id after `start`, None at the end.
pub fn next_link_id(start: u32) -> Result<Option<u32>> {
    super::next_id(super::IdKind::Link, start)
}

const SO_ATTACH_BPF: libc::c_int = 50;
const SO_DETACH_BPF: libc::c_int = 27;

/// SO_ATTACH_BPF: runs a socket filter program on every packet `sock` receives.
pub fn socket_attach(sock: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<()> {
    let pfd: libc::c_int = prog.as_raw_fd();
    // SAFETY: setsockopt reads one c_int from a live local.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_BPF,
            (&pfd as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            "setsockopt",
            last_errno(),
            format!("SO_ATTACH_BPF on socket fd {}", sock.as_raw_fd()),
        ));
    }
    Ok(())
}

/// SO_DETACH_BPF: the socket's filter is removed; a socket without one is not an error.
pub fn socket_detach(sock: BorrowedFd<'_>) {
    let zero: libc::c_int = 0;
    // SAFETY: as above; the answer (ENOENT without a filter) changes nothing for us.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_DETACH_BPF,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The ifindex of the network interface `name`.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name)
        .map_err(|_| Error::Invalid(format!("interface name {name:?} contains a NUL")))?;
    // SAFETY: a NUL-terminated name.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(Error::NotFound(format!(
            "no network interface named {name:?}"
        )));
    }
    Ok(idx)
}

/// Opens a cgroup directory or a netns file read-only: the fd a link targets.
pub fn open_target(path: &str, what: &str) -> Result<OwnedFd> {
    std::fs::File::open(path).map(OwnedFd::from).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        if errno == libc::ENOENT {
            Error::NotFound(format!("{what} {path} does not exist"))
        } else {
            Error::sys("open", errno, format!("{what} {path}"))
        }
    })
}

const TRACEFS_MAGIC: i64 = 0x7472_6163;

fn is_tracefs(path: &str) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    // SAFETY: a zeroed statfs is valid; statfs fills it from a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == TRACEFS_MAGIC
}

/// Where tracefs is: /sys/kernel/tracing, mounted there first if nothing is (as root),
/// else the old debugfs place.
pub fn tracefs() -> Result<&'static str> {
    const MAIN: &str = "/sys/kernel/tracing";
    const OLD: &str = "/sys/kernel/debug/tracing";
    if is_tracefs(MAIN) {
        return Ok(MAIN);
    }
    if is_tracefs(OLD) {
        return Ok(OLD);
    }
    let (src, dst, fs) = (c"tracefs", c"/sys/kernel/tracing", c"tracefs");
    // SAFETY: NUL-terminated strings, no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    if r == 0 || is_tracefs(MAIN) {
        return Ok(MAIN);
    }
    Err(Error::sys(
        "mount",
        last_errno(),
        "tracefs at /sys/kernel/tracing (tracepoint ids live there)",
    ))
}

/// A tracepoint's id, from tracefs' events/<category>/<name>/id.
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64> {
    let bad = |s: &str| s.is_empty() || s.contains('/') || s == "." || s == "..";
    if bad(category) || bad(name) {
        return Err(Error::Invalid(format!(
            "tracepoint {category}/{name}: give it as 'category/name'"
        )));
    }
    let path = format!("{}/events/{category}/{name}/id", tracefs()?);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::NotFound(format!("no tracepoint {category}/{name} ({path})")),
        errno => Error::sys("open", errno.unwrap_or(libc::EIO), path.clone()),
    })?;
    text.trim()
        .parse::<u64>()
        .map_err(|_| Error::Invalid(format!("{path} holds {text:?}, not an id")))
}

//! Program + target -> link: BPF_LINK_CREATE wherever the kernel offers it, perf events
//! for probes, tracepoints and sampling, SO_ATTACH_BPF for socket filters. Every fd made
//! on the way is owned, so a failure at any step closes what the earlier steps opened.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::elf::probe;
use crate::elf::sections::{attach_type as at, prog_type as pt};
use crate::error::{Error, Result};
use crate::sys::link::{self, LinkDetails};
use crate::sys::perf::{self, PerfEventAttr, ProbeEvent};

/// What to attach to, fully resolved by the caller (py/ or attach_all).
#[derive(Debug)]
pub enum Target {
    Kprobe {
        func: String,
        offset: u64,
        retprobe: bool,
    },
    KprobeMulti {
        pattern: String,
        retprobe: bool,
    },
    Uprobe {
        binary: String,
        /// A function of the binary, or None for `offset` as a file offset.
        func: Option<String>,
        offset: u64,
        retprobe: bool,
        pid: Option<i32>,
    },
    Tracepoint {
        category: String,
        name: String,
    },
    RawTracepoint {
        name: String,
    },
    /// tp_btf, fentry, fexit, fmod_ret, lsm: the target was fixed at load.
    Tracing,
    Iter,
    Xdp {
        ifindex: u32,
        flags: u32,
    },
    Tcx {
        ifindex: u32,
        egress: bool,
    },
    Cgroup {
        fd: OwnedFd,
        path: String,
        attach_type: u32,
    },
    SkLookup {
        netns: OwnedFd,
        path: String,
    },
    Socket {
        sock: OwnedFd,
    },
    PerfEvent {
        type_: u32,
        config: u64,
        /// (value, is a frequency)
        sample: (u64, bool),
        cpus: Vec<i32>,
        pid: i32,
    },
}

/// One attachment: a link, the perf event it runs on, or a socket holding a filter.
/// Fields drop in order: the link goes before the event it uses.
#[derive(Debug)]
pub struct Part {
    pub link: Option<OwnedFd>,
    pub event: Option<OwnedFd>,
    pub sock: Option<OwnedFd>,
    /// A struct_ops map registered by its update: dropping it deletes the element,
    /// which unregisters the ops.
    pub ops: Option<OwnedFd>,
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(s) = &self.sock {
            link::socket_detach(s.as_fd());
        }
        if let Some(m) = &self.ops {
            let _ = crate::sys::mapops::delete(m.as_fd(), &0u32.to_le_bytes());
        }
    }
}

/// An attached program: its parts (one per CPU for a sampling program) and what it is.
#[derive(Debug)]
pub struct Attached {
    pub kind: &'static str,
    pub target: String,
    pub parts: Vec<Part>,
}

impl Attached {
    fn one(kind: &'static str, target: String, link: OwnedFd) -> Self {
        Attached {
            kind,
            target,
            parts: vec![Part {
                link: Some(link),
                event: None,
                sock: None,
                ops: None,
            }],
        }
    }

    /// Info of each part that is a BPF link.
    pub fn infos(&self) -> Result<Vec<LinkDetails>> {
        self.parts
            .iter()
            .filter_map(|p| p.link.as_ref())
            .map(|l| link::link_info(l.as_fd()))
            .collect()
    }
}

/// BPF_F_LINK: a struct_ops map that a link registers (`.struct_ops.link`).
pub const STRUCT_OPS_LINK_FLAG: u32 = 1 << 13;

/// Registers a struct_ops map (libbpf's bpf_map__attach_struct_ops): its value, the
/// object's data with the fds of the programs that implement each member, is written
/// with BPF_MAP_UPDATE_ELEM; a `.struct_ops.link` map (BPF_F_LINK) is then registered by
/// a BPF link of type struct_ops, which unregisters it when closed; another map is
/// registered by the update itself, and unregistered by deleting the element.
pub fn struct_ops(map: OwnedFd, value: &[u8], flags: u32, name: &str) -> Result<Attached> {
    let what = format!("struct_ops map '{name}'");
    crate::sys::map_update(map.as_fd(), &0u32.to_le_bytes(), value, 0).map_err(|e| match e {
        Error::Sys { cmd, errno, .. } => Error::Sys {
            cmd,
            errno,
            context: format!("registering {what}"),
        },
        other => other,
    })?;
    if flags & STRUCT_OPS_LINK_FLAG == 0 {
        return Ok(Attached {
            kind: "struct_ops",
            target: name.to_string(),
            parts: vec![Part {
                link: None,
                event: None,
                sock: None,
                ops: Some(map),
            }],
        });
    }
    let l = link::link_create(map.as_fd(), 0, at::STRUCT_OPS, 0, [0; 6], &what)?;
    Ok(Attached::one("struct_ops", name.to_string(), l))
}

/// The kind of attach a program's type and expected attach type call for: tells a
/// uprobe from a kprobe, and names what a program cannot be attached as.
pub fn default_kind(prog_type: u32, expected: u32, section: &str) -> &'static str {
    match prog_type {
        pt::KPROBE => match expected {
            at::TRACE_KPROBE_MULTI => "kprobe_multi",
            at::TRACE_UPROBE_MULTI => "uprobe_multi",
            _ if section.starts_with("uprobe") || section.starts_with("uretprobe") => "uprobe",
            _ => "kprobe",
        },
        pt::TRACEPOINT => "tracepoint",
        pt::RAW_TRACEPOINT | pt::RAW_TRACEPOINT_WRITABLE => "raw_tracepoint",
        pt::TRACING if expected == at::TRACE_ITER => "iter",
        pt::TRACING | pt::LSM => "tracing",
        pt::XDP => "xdp",
        pt::SCHED_CLS => "tcx",
        pt::CGROUP_SKB
        | pt::CGROUP_SOCK
        | pt::CGROUP_DEVICE
        | pt::CGROUP_SOCK_ADDR
        | pt::CGROUP_SYSCTL
        | pt::CGROUP_SOCKOPT
        | pt::SOCK_OPS => "cgroup",
        pt::SK_LOOKUP => "sk_lookup",
        pt::SOCKET_FILTER => "socket_filter",
        pt::PERF_EVENT => "perf_event",
        _ => "",
    }
}

fn kprobe_pmu() -> Result<(u32, u32)> {
    perf::probe_pmu("kprobe").ok_or_else(|| {
        Error::unsupported(
            "kprobe",
            "this kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe: \
             built without CONFIG_KPROBES)",
        )
    })
}

/// A program run on a perf event: BPF_LINK_CREATE (BPF_PERF_EVENT, Linux 5.15+), else
/// the event's own PERF_EVENT_IOC_SET_BPF, where closing the event detaches.
/// `prog` attached by one link to one perf event (a kprobe, uprobe or tracepoint).
fn on_event(
    prog: BorrowedFd<'_>,
    kind: &'static str,
    event: OwnedFd,
    what: String,
) -> Result<Attached> {
    let part = perf_link(prog, event, &what)?;
    Ok(Attached {
        kind,
        target: what,
        parts: vec![part],
    })
}

fn perf_link(prog: BorrowedFd<'_>, event: OwnedFd, what: &str) -> Result<Part> {
    match link::link_create(
        prog,
        event.as_raw_fd() as u32,
        at::PERF_EVENT,
        0,
        [0; 6],
        what,
    ) {
        Ok(l) => Ok(Part {
            link: Some(l),
            event: Some(event),
            sock: None,
            ops: None,
        }),
        Err(e) if e.errno() == Some(libc::EINVAL) && !kernel_at_least(5, 15) => {
            perf::perf_set_bpf(event.as_fd(), prog, what)?;
            Ok(Part {
                link: None,
                event: Some(event),
                sock: None,
                ops: None,
            })
        }
        Err(e) => Err(e),
    }
}

/// Whether the running kernel's release is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(rel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return true;
    };
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// The functions of the running kernel a kprobe.multi pattern names (tracefs'
/// available_filter_functions, which lists what kprobes may attach to).
fn multi_symbols(pattern: &str) -> Result<Vec<String>> {
    if !pattern.contains(['*', '?']) {
        return Ok(vec![pattern.to_string()]);
    }
    let path = format!("{}/available_filter_functions", link::tracefs()?);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::sys("open", e.raw_os_error().unwrap_or(libc::EIO), path.clone()))?;
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|f| probe::glob_match(pattern, f))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "no kernel function matches {pattern:?} ({path})"
        )));
    }
    Ok(out)
}

/// The CPUs perf events can be opened on (/sys/devices/system/cpu/online).
pub fn online_cpus() -> Result<Vec<i32>> {
    const PATH: &str = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(PATH)
        .map_err(|e| Error::sys("open", e.raw_os_error().unwrap_or(libc::EIO), PATH))?;
    parse_cpus(text.trim())
        .ok_or_else(|| Error::Invalid(format!("cannot read the CPU list {text:?} of {PATH}")))
}

/// "0-2,4" -> [0, 1, 2, 4].
pub fn parse_cpus(s: &str) -> Option<Vec<i32>> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>().ok()?, b.parse::<i32>().ok()?),
            None => {
                let v = part.parse::<i32>().ok()?;
                (v, v)
            }
        };
        if a < 0 || a > b || b >= 1 << 16 {
            return None;
        }
        cpus.extend(a..=b);
    }
    Some(cpus)
}

fn what_probe(kind: &str, target: &str, offset: u64) -> String {
    if offset != 0 {
        format!("{kind} on {target}+{offset:#x}")
    } else {
        format!("{kind} on {target}")
    }
}

fn attach_kprobe(
    prog: BorrowedFd<'_>,
    func: &str,
    offset: u64,
    retprobe: bool,
) -> Result<Attached> {
    let kind = if retprobe { "kretprobe" } else { "kprobe" };
    let what = what_probe(kind, func, offset);
    let pmu = kprobe_pmu()?;
    let event = perf::probe_open(
        &ProbeEvent {
            pmu,
            retprobe,
            target: func,
            offset,
            pid: -1,
            cpu: 0,
        },
        &what,
    )?;
    on_event(prog, kind, event, what)
}

fn attach_kprobe_multi(
    prog: BorrowedFd<'_>,
    expected: u32,
    pattern: &str,
    retprobe: bool,
) -> Result<Attached> {
    let what = format!("kprobe_multi on {pattern}");
    if expected != at::TRACE_KPROBE_MULTI {
        return Err(Error::Invalid(format!(
            "{what}: the program was not loaded for kprobe.multi (its section must be \
             kprobe.multi/... or kretprobe.multi/...)"
        )));
    }
    // Without fprobes the kernel's kprobe_multi attach is a stub that answers
    // EOPNOTSUPP before it looks at anything; with them, no symbols is EINVAL.
    let unsupported = || {
        Error::unsupported(
            "kprobe_multi",
            format!("{what}: this kernel has no fprobe (CONFIG_FPROBE, Linux 5.18+)"),
        )
    };
    if let Err(e) = link::link_create(prog, 0, at::TRACE_KPROBE_MULTI, 0, [0; 6], &what) {
        if matches!(e.errno(), Some(libc::EOPNOTSUPP) | Some(524)) {
            return Err(unsupported());
        }
    }
    let syms = multi_symbols(pattern)?;
    let cstrs = syms
        .iter()
        .map(|s| std::ffi::CString::new(s.as_str()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::Invalid(format!("{what}: a name contains a NUL")))?;
    let ptrs: Vec<u64> = cstrs.iter().map(|c| c.as_ptr() as u64).collect();
    // kprobe_multi: u32 flags, u32 cnt, syms, addrs, cookies.
    const BPF_F_KPROBE_MULTI_RETURN: u64 = 1;
    let flags = if retprobe {
        BPF_F_KPROBE_MULTI_RETURN
    } else {
        0
    };
    let data = [
        flags | ((ptrs.len() as u64) << 32),
        ptrs.as_ptr() as u64,
        0,
        0,
        0,
        0,
    ];
    let l =
        link::link_create(prog, 0, at::TRACE_KPROBE_MULTI, 0, data, &what).map_err(|e| match e
            .errno()
        {
            Some(libc::EOPNOTSUPP) | Some(524) => unsupported(),
            _ => e,
        })?;
    Ok(Attached::one("kprobe_multi", what, l))
}

fn attach_uprobe(
    prog: BorrowedFd<'_>,
    binary: &str,
    func: Option<&str>,
    offset: u64,
    retprobe: bool,
    pid: Option<i32>,
) -> Result<Attached> {
    let kind = if retprobe { "uretprobe" } else { "uprobe" };
    let what = match func {
        Some(f) => what_probe(kind, &format!("{binary}:{f}"), offset),
        None => format!("{kind} on {binary} at file offset {offset:#x}"),
    };
    let file_off = match func {
        Some(f) => {
            let data = std::fs::read(binary).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => Error::NotFound(format!("{what}: no file {binary}")),
                errno => Error::sys("open", errno.unwrap_or(libc::EIO), what.clone()),
            })?;
            probe::uprobe_offset(&data, f, binary)?
                .checked_add(offset)
                .ok_or_else(|| Error::Invalid(format!("{what}: the offset overflows")))?
        }
        None => offset,
    };
    let pmu = perf::probe_pmu("uprobe").ok_or_else(|| {
        Error::unsupported(
            "uprobe",
            "this kernel has no uprobe PMU (CONFIG_UPROBE_EVENTS)",
        )
    })?;
    let (pid, cpu) = match pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    let event = perf::probe_open(
        &ProbeEvent {
            pmu,
            retprobe,
            target: binary,
            offset: file_off,
            pid,
            cpu,
        },
        &what,
    )?;
    on_event(prog, kind, event, what)
}

fn attach_tracepoint(prog: BorrowedFd<'_>, category: &str, name: &str) -> Result<Attached> {
    let what = format!("tracepoint {category}/{name}");
    let id = link::tracepoint_id(category, name)?;
    let mut attr = PerfEventAttr {
        type_: perf::PERF_TYPE_TRACEPOINT,
        config: id,
        ..Default::default()
    };
    let event = perf::perf_event_open(&mut attr, -1, 0, &what)?;
    on_event(prog, "tracepoint", event, what)
}

fn attach_perf_events(
    prog: BorrowedFd<'_>,
    type_: u32,
    config: u64,
    sample: (u64, bool),
    cpus: &[i32],
    pid: i32,
) -> Result<Attached> {
    let mut parts = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        let what = format!("perf event type {type_} config {config} on CPU {cpu}");
        let mut attr = PerfEventAttr {
            type_,
            config,
            sample: sample.0,
            flags: if sample.1 { perf::FLAG_FREQ } else { 0 },
            ..Default::default()
        };
        let event = perf::perf_event_open(&mut attr, pid, *cpu, &what)?;
        // On an error `parts` drops: every event and link opened so far closes.
        parts.push(perf_link(prog, event, &what)?);
    }
    Ok(Attached {
        kind: "perf_event",
        target: format!(
            "perf event type {type_} config {config} on {} CPUs",
            cpus.len()
        ),
        parts,
    })
}

/// Attaches `prog` (of `prog_type`, loaded for `expected`) to `target`.
pub fn attach(
    prog: BorrowedFd<'_>,
    prog_type: u32,
    expected: u32,
    target: Target,
) -> Result<Attached> {
    match target {
        Target::Kprobe {
            func,
            offset,
            retprobe,
        } => attach_kprobe(prog, &func, offset, retprobe),
        Target::KprobeMulti { pattern, retprobe } => {
            attach_kprobe_multi(prog, expected, &pattern, retprobe)
        }
        Target::Uprobe {
            binary,
            func,
            offset,
            retprobe,
            pid,
        } => attach_uprobe(prog, &binary, func.as_deref(), offset, retprobe, pid),
        Target::Tracepoint { category, name } => attach_tracepoint(prog, &category, &name),
        Target::RawTracepoint { name } => {
            let what = format!("raw tracepoint {name}");
            let l = link::raw_tracepoint_open(prog, Some(&name), &what)?;
            Ok(Attached::one("raw_tracepoint", what, l))
        }
        Target::Tracing => {
            if prog_type == pt::TRACING && expected == at::TRACE_ITER {
                return Err(Error::Invalid("an iterator attaches as 'iter'".into()));
            }
            let what = "the target the program was loaded for".to_string();
            let l = link::raw_tracepoint_open(prog, None, &what)?;
            Ok(Attached::one("tracing", what, l))
        }
        Target::Iter => {
            let l = crate::sys::iter_link_create(prog, "iterator")?;
            Ok(Attached::one("iter", "iterator".into(), l))
        }
        Target::Xdp { ifindex, flags } => {
            let what = format!("xdp on ifindex {ifindex}");
            let l = link::link_create(prog, ifindex, at::XDP, flags, [0; 6], &what)?;
            Ok(Attached::one("xdp", what, l))
        }
        Target::Tcx { ifindex, egress } => {
            let dir = if egress { "egress" } else { "ingress" };
            let what = format!("tcx {dir} on ifindex {ifindex}");
            if !kernel_at_least(6, 6) {
                return Err(Error::unsupported(
                    "tcx",
                    format!("{what}: tcx links need Linux 6.6+"),
                ));
            }
            let ty = if egress {
                at::TCX_EGRESS
            } else {
                at::TCX_INGRESS
            };
            let l = link::link_create(prog, ifindex, ty, 0, [0; 6], &what)?;
            Ok(Attached::one("tcx", what, l))
        }
        Target::Cgroup {
            fd,
            path,
            attach_type,
        } => {
            let what = format!("cgroup {path}, attach type {attach_type}");
            let l = link::link_create(prog, fd.as_raw_fd() as u32, attach_type, 0, [0; 6], &what)?;
            Ok(Attached::one("cgroup", what, l))
        }
        Target::SkLookup { netns, path } => {
            let what = format!("sk_lookup in netns {path}");
            let l = link::link_create(
                prog,
                netns.as_raw_fd() as u32,
                at::SK_LOOKUP,
                0,
                [0; 6],
                &what,
            )?;
            Ok(Attached::one("sk_lookup", what, l))
        }
        Target::Socket { sock } => {
            link::socket_attach(sock.as_fd(), prog)?;
            let what = format!("socket fd {}", sock.as_raw_fd());
            Ok(Attached {
                kind: "socket_filter",
                target: what,
                parts: vec![Part {
                    link: None,
                    event: None,
                    sock: Some(sock),
                    ops: None,
                }],
            })
        }
        Target::PerfEvent {
            type_,
            config,
            sample,
            cpus,
            pid,
        } => attach_perf_events(prog, type_, config, sample, &cpus, pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_cpus("0"), Some(vec![0]));
        assert_eq!(parse_cpus("3-1"), None);
        assert_eq!(parse_cpus("x"), None);
        assert_eq!(parse_cpus("0-99999999"), None);
    }
}

//! Links on the host -> records with the fields bpftool's `link show` prints, and its plain
//! and JSON formats (Debian's bpftool 7.1 with libbpf 1.1: the type and attach type names
//! it knows, numbers for newer ones).

use std::os::fd::{AsFd, BorrowedFd};

use crate::error::{Error, Result};
use crate::sys::link::{self, link_type as lt, LinkDetails};
use crate::sys::{self, info, IdKind};

use super::format::{json_str, pretty, prog_type_name, type_label};

/// libbpf 1.1's link type names (bpftool 7.1 prints "type N" past them).
const LINK_TYPE_NAMES: usize = 10;

/// libbpf 1.1's attach type names, by number, up to BPF_LSM_CGROUP.
const ATTACH_TYPES: &[&str] = &[
    "cgroup_inet_ingress",
    "cgroup_inet_egress",
    "cgroup_inet_sock_create",
    "cgroup_sock_ops",
    "sk_skb_stream_parser",
    "sk_skb_stream_verdict",
    "cgroup_device",
    "sk_msg_verdict",
    "cgroup_inet4_bind",
    "cgroup_inet6_bind",
    "cgroup_inet4_connect",
    "cgroup_inet6_connect",
    "cgroup_inet4_post_bind",
    "cgroup_inet6_post_bind",
    "cgroup_udp4_sendmsg",
    "cgroup_udp6_sendmsg",
    "lirc_mode2",
    "flow_dissector",
    "cgroup_sysctl",
    "cgroup_udp4_recvmsg",
    "cgroup_udp6_recvmsg",
    "cgroup_getsockopt",
    "cgroup_setsockopt",
    "trace_raw_tp",
    "trace_fentry",
    "trace_fexit",
    "modify_return",
    "lsm_mac",
    "trace_iter",
    "cgroup_inet4_getpeername",
    "cgroup_inet6_getpeername",
    "cgroup_inet4_getsockname",
    "cgroup_inet6_getsockname",
    "xdp_devmap",
    "cgroup_inet_sock_release",
    "xdp_cpumap",
    "sk_lookup",
    "xdp",
    "sk_skb_verdict",
    "sk_reuseport_select",
    "sk_reuseport_select_or_migrate",
    "perf_event",
    "trace_kprobe_multi",
    "lsm_cgroup",
];

/// One field value of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    U(u64),
    S(String),
}

/// A link as bpftool reads it: its info and the program's type (for tracing links).
/// (Debian's bpftool is built without its pid iterator: it prints no `pids`.)
#[derive(Debug, Clone, Default)]
pub struct LinkRecord {
    pub details: LinkDetails,
    pub prog_type: Option<u32>,
}

fn attach_type_field(t: u32) -> Field {
    match ATTACH_TYPES.get(t as usize) {
        Some(n) => Field::S((*n).to_string()),
        None => Field::U(u64::from(t)),
    }
}

fn attach_type_plain(t: u32) -> String {
    match ATTACH_TYPES.get(t as usize) {
        Some(n) => format!("attach_type {n}  "),
        None => format!("attach_type {t}  "),
    }
}

impl LinkRecord {
    /// Reads the link behind `fd`.
    pub fn read(fd: BorrowedFd<'_>) -> Result<Self> {
        let details = link::link_info(fd)?;
        let prog_type = if details.info.link_type == lt::TRACING {
            sys::fd_by_id(IdKind::Prog, details.info.prog_id)?
                .and_then(|p| info::prog_info(p.as_fd(), &mut Vec::new()).ok())
                .map(|pi| pi.prog_type)
        } else {
            None
        };
        Ok(LinkRecord { details, prog_type })
    }

    fn type_field(&self) -> Field {
        let t = self.details.info.link_type;
        match link::LINK_TYPES.get(t as usize) {
            Some(n) if (t as usize) < LINK_TYPE_NAMES => Field::S((*n).to_string()),
            _ => Field::U(u64::from(t)),
        }
    }

    /// The fields in bpftool's JSON order.
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        let i = &self.details.info;
        let mut f = vec![
            ("id", Field::U(u64::from(i.id))),
            ("type", self.type_field()),
            ("prog_id", Field::U(u64::from(i.prog_id))),
        ];
        let name = || Field::S(self.details.name.clone().unwrap_or_default());
        match i.link_type {
            lt::RAW_TRACEPOINT => f.push(("tp_name", name())),
            lt::TRACING => {
                if let Some(pt) = self.prog_type {
                    let v = prog_type_name(pt)
                        .map_or(Field::U(u64::from(pt)), |n| Field::S(n.to_string()));
                    f.push(("prog_type", v));
                }
                f.push(("attach_type", attach_type_field(i.u32_at(0))));
            }
            lt::CGROUP => {
                f.push(("cgroup_id", Field::U(i.u64_at(0))));
                f.push(("attach_type", attach_type_field(i.u32_at(8))));
            }
            lt::ITER => {
                f.push(("target_name", name()));
            }
            lt::NETNS => {
                f.push(("netns_ino", Field::U(u64::from(i.u32_at(0)))));
                f.push(("attach_type", attach_type_field(i.u32_at(4))));
            }
            _ => {}
        }
        f
    }

    fn plain(&self, out: &mut String) {
        use std::fmt::Write;
        let i = &self.details.info;
        let name = match self.type_field() {
            Field::S(s) => Some(s),
            Field::U(_) => None,
        };
        let _ = write!(
            out,
            "{}: {}  ",
            i.id,
            type_label(name.as_deref(), i.link_type)
        );
        let _ = write!(out, "prog {}  ", i.prog_id);
        let name = self.details.name.as_deref().unwrap_or("");
        match i.link_type {
            lt::RAW_TRACEPOINT => {
                let _ = write!(out, "\n\ttp '{name}'  ");
            }
            lt::TRACING => {
                if let Some(pt) = self.prog_type {
                    let name = prog_type_name(pt).map_or_else(|| pt.to_string(), str::to_string);
                    let _ = write!(out, "\n\tprog_type {name}  ");
                }
                out.push_str(&attach_type_plain(i.u32_at(0)));
            }
            lt::CGROUP => {
                let _ = write!(out, "\n\tcgroup_id {}  ", i.u64_at(0));
                out.push_str(&attach_type_plain(i.u32_at(8)));
            }
            lt::ITER => {
                let _ = write!(out, "target_name {name}  ");
            }
            lt::NETNS => {
                let _ = write!(out, "\n\tnetns_ino {}  ", i.u32_at(0));
                out.push_str(&attach_type_plain(i.u32_at(4)));
            }
            _ => {}
        }
        out.push('\n');
    }

    fn json(&self, out: &mut String) {
        out.push('{');
        for (n, (k, v)) in self.fields().iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            json_str(k, out);
            out.push(':');
            match v {
                Field::U(u) => out.push_str(&u.to_string()),
                Field::S(s) => json_str(s, out),
            }
        }
        out.push('}');
    }
}

/// Every link (id order), or the one with `id`, or the one pinned at `path`.
pub fn scan(id: Option<u32>, path: Option<&str>) -> Result<Vec<LinkRecord>> {
    let mut recs = Vec::new();
    match (id, path) {
        (Some(id), None) => {
            let fd = sys::fd_by_id(IdKind::Link, id)?
                .ok_or_else(|| Error::NotFound(format!("no link with id {id}")))?;
            recs.push(LinkRecord::read(fd.as_fd())?);
        }
        (None, Some(p)) => {
            let fd = sys::obj_get(p).map_err(|e| match e.errno() {
                Some(libc::ENOENT) => Error::NotFound(format!("nothing is pinned at {p}")),
                _ => e,
            })?;
            if crate::bind::fd_kind(fd.as_fd()) != crate::bind::FdKind::Other
                || sys::info::with_fdinfo(fd.as_fd(), |t| t.contains("\nlink_type:")) != Some(true)
            {
                return Err(Error::Invalid(format!("{p} is not a BPF link")));
            }
            recs.push(LinkRecord::read(fd.as_fd())?);
        }
        (None, None) => {
            let mut next = 0;
            while let Some(id) = link::next_link_id(next)? {
                next = id;
                // Gone between the two calls: not an error.
                let Some(fd) = sys::fd_by_id(IdKind::Link, id)? else {
                    continue;
                };
                match LinkRecord::read(fd.as_fd()) {
                    Ok(r) => recs.push(r),
                    Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        _ => return Err(Error::Invalid("give id or path, not both".into())),
    }
    Ok(recs)
}

pub fn format_plain(recs: &[LinkRecord]) -> String {
    let mut out = String::new();
    for r in recs {
        r.plain(&mut out);
    }
    out
}

/// `-j` (compact, `-p` pretty): one object for a single link, a list for a scan.
pub fn format_json(recs: &[LinkRecord], single: bool, pretty_print: bool) -> String {
    let mut out = String::new();
    if single {
        if let Some(r) = recs.first() {
            r.json(&mut out);
        }
    } else {
        out.push('[');
        for (n, r) in recs.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            r.json(&mut out);
        }
        out.push(']');
    }
    if pretty_print {
        pretty(&out)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::LinkInfo;

    fn rec(link_type: u32, name: Option<&str>) -> LinkRecord {
        let mut info = LinkInfo {
            link_type,
            id: 7,
            prog_id: 42,
            ..Default::default()
        };
        info.set_u32(0, 0);
        LinkRecord {
            details: LinkDetails {
                info,
                name: name.map(str::to_string),
            },
            prog_type: None,
        }
    }

    #[test]
    fn raw_tracepoint_plain_and_json() {
        let r = rec(lt::RAW_TRACEPOINT, Some("sched_switch"));
        assert_eq!(
            format_plain(std::slice::from_ref(&r)),
            "7: raw_tracepoint  prog 42  \n\ttp 'sched_switch'  \n"
        );
        assert_eq!(
            format_json(std::slice::from_ref(&r), true, false),
            "{\"id\":7,\"type\":\"raw_tracepoint\",\"prog_id\":42,\"tp_name\":\"sched_switch\"}"
        );
    }

    #[test]
    fn newer_types_print_as_numbers() {
        let r = rec(lt::TCX, None);
        assert_eq!(
            format_plain(std::slice::from_ref(&r)),
            "7: type 11  prog 42  \n"
        );
        assert_eq!(
            format_json(std::slice::from_ref(&r), false, false),
            "[{\"id\":7,\"type\":11,\"prog_id\":42}]"
        );
    }
}

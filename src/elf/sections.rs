//! Program section names -> program type, expected attach type and load flags, the way
//! libbpf's section table maps them, with the kernel's uapi numbers (include/uapi/linux/bpf.h).

pub use crate::sys::uapi::{attach_type, prog_type};

/// BPF_PROG_LOAD `prog_flags`.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// BPF_MAP_CREATE `map_flags` the loader sets on internal maps.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// What a program section name means.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionDef {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub prog_flags: u32,
    /// The part after `prefix/` for sections that name a target (`kprobe/do_sys_open`).
    pub attach_target: Option<String>,
}

use attach_type as at;
use prog_type as pt;

const SLEEPABLE: u32 = BPF_F_SLEEPABLE;
const FRAGS: u32 = BPF_F_XDP_HAS_FRAGS;

/// (pattern, program type, expected attach type, load flags)
type Entry = (&'static str, u32, u32, u32);

/// libbpf's matching rules, in its order (the first match wins, so longer names come before
/// their prefixes): a pattern ending in `+` matches itself or `itself/anything`, one ending in
/// `/` matches any name with that prefix, anything else matches exactly.
const TABLE: &[Entry] = &[
    ("socket", pt::SOCKET_FILTER, 0, 0),
    (
        "sk_reuseport/migrate",
        pt::SK_REUSEPORT,
        at::SK_REUSEPORT_SELECT_OR_MIGRATE,
        0,
    ),
    ("sk_reuseport", pt::SK_REUSEPORT, at::SK_REUSEPORT_SELECT, 0),
    ("kprobe+", pt::KPROBE, 0, 0),
    ("uprobe+", pt::KPROBE, 0, 0),
    ("uprobe.s+", pt::KPROBE, 0, SLEEPABLE),
    ("kretprobe+", pt::KPROBE, 0, 0),
    ("uretprobe+", pt::KPROBE, 0, 0),
    ("uretprobe.s+", pt::KPROBE, 0, SLEEPABLE),
    ("kprobe.multi+", pt::KPROBE, at::TRACE_KPROBE_MULTI, 0),
    ("kretprobe.multi+", pt::KPROBE, at::TRACE_KPROBE_MULTI, 0),
    ("kprobe.session+", pt::KPROBE, at::TRACE_KPROBE_SESSION, 0),
    ("uprobe.multi+", pt::KPROBE, at::TRACE_UPROBE_MULTI, 0),
    ("uretprobe.multi+", pt::KPROBE, at::TRACE_UPROBE_MULTI, 0),
    (
        "uprobe.multi.s+",
        pt::KPROBE,
        at::TRACE_UPROBE_MULTI,
        SLEEPABLE,
    ),
    (
        "uretprobe.multi.s+",
        pt::KPROBE,
        at::TRACE_UPROBE_MULTI,
        SLEEPABLE,
    ),
    ("ksyscall+", pt::KPROBE, 0, 0),
    ("kretsyscall+", pt::KPROBE, 0, 0),
    ("usdt+", pt::KPROBE, 0, 0),
    ("usdt.s+", pt::KPROBE, 0, SLEEPABLE),
    ("tc/ingress", pt::SCHED_CLS, at::TCX_INGRESS, 0),
    ("tc/egress", pt::SCHED_CLS, at::TCX_EGRESS, 0),
    ("tcx/ingress", pt::SCHED_CLS, at::TCX_INGRESS, 0),
    ("tcx/egress", pt::SCHED_CLS, at::TCX_EGRESS, 0),
    ("tc", pt::SCHED_CLS, 0, 0),
    ("classifier", pt::SCHED_CLS, 0, 0),
    ("action", pt::SCHED_ACT, 0, 0),
    ("netkit/primary", pt::SCHED_CLS, at::NETKIT_PRIMARY, 0),
    ("netkit/peer", pt::SCHED_CLS, at::NETKIT_PEER, 0),
    ("tracepoint+", pt::TRACEPOINT, 0, 0),
    ("tp+", pt::TRACEPOINT, 0, 0),
    ("tracepoint.s+", pt::TRACEPOINT, 0, SLEEPABLE),
    ("tp.s+", pt::TRACEPOINT, 0, SLEEPABLE),
    ("raw_tracepoint+", pt::RAW_TRACEPOINT, 0, 0),
    ("raw_tp+", pt::RAW_TRACEPOINT, 0, 0),
    ("raw_tracepoint.s+", pt::RAW_TRACEPOINT, 0, SLEEPABLE),
    ("raw_tp.s+", pt::RAW_TRACEPOINT, 0, SLEEPABLE),
    ("raw_tracepoint.w+", pt::RAW_TRACEPOINT_WRITABLE, 0, 0),
    ("raw_tp.w+", pt::RAW_TRACEPOINT_WRITABLE, 0, 0),
    ("tp_btf+", pt::TRACING, at::TRACE_RAW_TP, 0),
    ("tp_btf.s+", pt::TRACING, at::TRACE_RAW_TP, SLEEPABLE),
    ("fentry+", pt::TRACING, at::TRACE_FENTRY, 0),
    ("fmod_ret+", pt::TRACING, at::MODIFY_RETURN, 0),
    ("fexit+", pt::TRACING, at::TRACE_FEXIT, 0),
    ("fentry.s+", pt::TRACING, at::TRACE_FENTRY, SLEEPABLE),
    ("fmod_ret.s+", pt::TRACING, at::MODIFY_RETURN, SLEEPABLE),
    ("fexit.s+", pt::TRACING, at::TRACE_FEXIT, SLEEPABLE),
    ("freplace+", pt::EXT, 0, 0),
    ("lsm+", pt::LSM, at::LSM_MAC, 0),
    ("lsm.s+", pt::LSM, at::LSM_MAC, SLEEPABLE),
    ("lsm_cgroup+", pt::LSM, at::LSM_CGROUP, 0),
    ("iter+", pt::TRACING, at::TRACE_ITER, 0),
    ("iter.s+", pt::TRACING, at::TRACE_ITER, SLEEPABLE),
    ("syscall", pt::SYSCALL, 0, SLEEPABLE),
    ("xdp.frags/devmap", pt::XDP, at::XDP_DEVMAP, FRAGS),
    ("xdp/devmap", pt::XDP, at::XDP_DEVMAP, 0),
    ("xdp.frags/cpumap", pt::XDP, at::XDP_CPUMAP, FRAGS),
    ("xdp/cpumap", pt::XDP, at::XDP_CPUMAP, 0),
    ("xdp.frags", pt::XDP, at::XDP, FRAGS),
    ("xdp", pt::XDP, at::XDP, 0),
    ("perf_event", pt::PERF_EVENT, 0, 0),
    ("lwt_in", pt::LWT_IN, 0, 0),
    ("lwt_out", pt::LWT_OUT, 0, 0),
    ("lwt_xmit", pt::LWT_XMIT, 0, 0),
    ("lwt_seg6local", pt::LWT_SEG6LOCAL, 0, 0),
    ("sockops", pt::SOCK_OPS, at::CGROUP_SOCK_OPS, 0),
    (
        "sk_skb/stream_parser",
        pt::SK_SKB,
        at::SK_SKB_STREAM_PARSER,
        0,
    ),
    (
        "sk_skb/stream_verdict",
        pt::SK_SKB,
        at::SK_SKB_STREAM_VERDICT,
        0,
    ),
    ("sk_skb/verdict", pt::SK_SKB, at::SK_SKB_VERDICT, 0),
    ("sk_skb", pt::SK_SKB, 0, 0),
    ("sk_msg", pt::SK_MSG, at::SK_MSG_VERDICT, 0),
    ("lirc_mode2", pt::LIRC_MODE2, at::LIRC_MODE2, 0),
    ("flow_dissector", pt::FLOW_DISSECTOR, at::FLOW_DISSECTOR, 0),
    (
        "cgroup_skb/ingress",
        pt::CGROUP_SKB,
        at::CGROUP_INET_INGRESS,
        0,
    ),
    (
        "cgroup_skb/egress",
        pt::CGROUP_SKB,
        at::CGROUP_INET_EGRESS,
        0,
    ),
    ("cgroup/skb", pt::CGROUP_SKB, 0, 0),
    (
        "cgroup/sock_create",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_CREATE,
        0,
    ),
    (
        "cgroup/sock_release",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_RELEASE,
        0,
    ),
    (
        "cgroup/sock",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_CREATE,
        0,
    ),
    (
        "cgroup/post_bind4",
        pt::CGROUP_SOCK,
        at::CGROUP_INET4_POST_BIND,
        0,
    ),
    (
        "cgroup/post_bind6",
        pt::CGROUP_SOCK,
        at::CGROUP_INET6_POST_BIND,
        0,
    ),
    (
        "cgroup/bind4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_BIND,
        0,
    ),
    (
        "cgroup/bind6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_BIND,
        0,
    ),
    (
        "cgroup/connect4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_CONNECT,
        0,
    ),
    (
        "cgroup/connect6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_CONNECT,
        0,
    ),
    (
        "cgroup/connect_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_CONNECT,
        0,
    ),
    (
        "cgroup/sendmsg4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP4_SENDMSG,
        0,
    ),
    (
        "cgroup/sendmsg6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP6_SENDMSG,
        0,
    ),
    (
        "cgroup/sendmsg_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_SENDMSG,
        0,
    ),
    (
        "cgroup/recvmsg4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP4_RECVMSG,
        0,
    ),
    (
        "cgroup/recvmsg6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP6_RECVMSG,
        0,
    ),
    (
        "cgroup/recvmsg_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_RECVMSG,
        0,
    ),
    (
        "cgroup/getpeername4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_GETPEERNAME,
        0,
    ),
    (
        "cgroup/getpeername6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_GETPEERNAME,
        0,
    ),
    (
        "cgroup/getpeername_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_GETPEERNAME,
        0,
    ),
    (
        "cgroup/getsockname4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_GETSOCKNAME,
        0,
    ),
    (
        "cgroup/getsockname6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_GETSOCKNAME,
        0,
    ),
    (
        "cgroup/getsockname_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_GETSOCKNAME,
        0,
    ),
    ("cgroup/sysctl", pt::CGROUP_SYSCTL, at::CGROUP_SYSCTL, 0),
    (
        "cgroup/getsockopt",
        pt::CGROUP_SOCKOPT,
        at::CGROUP_GETSOCKOPT,
        0,
    ),
    (
        "cgroup/setsockopt",
        pt::CGROUP_SOCKOPT,
        at::CGROUP_SETSOCKOPT,
        0,
    ),
    ("cgroup/dev", pt::CGROUP_DEVICE, at::CGROUP_DEVICE, 0),
    // The attach type of a struct_ops program is the kernel member it implements, set
    // at load from its struct_ops map.
    ("struct_ops+", pt::STRUCT_OPS, 0, 0),
    ("struct_ops.s+", pt::STRUCT_OPS, 0, SLEEPABLE),
    ("sk_lookup", pt::SK_LOOKUP, at::SK_LOOKUP, 0),
    ("netfilter", pt::NETFILTER, at::NETFILTER, 0),
];

/// How `name` matches `pattern`: None, or Some(the extras after `pattern/`, if any).
fn matches<'a>(pattern: &str, name: &'a str) -> Option<Option<&'a str>> {
    if let Some(base) = pattern.strip_suffix('+') {
        let rest = name.strip_prefix(base)?;
        if rest.is_empty() {
            Some(None)
        } else {
            rest.strip_prefix('/').map(Some)
        }
    } else if pattern.ends_with('/') {
        name.strip_prefix(pattern).map(Some)
    } else {
        (pattern == name).then_some(None)
    }
}

/// The program type of a section as libbpf reads it, else as cilium/ebpf does (an exact
/// pattern also matches as a prefix: `socket_filter`, `xdp_drop`), else None. A leading
/// `?` (libbpf's "do not autoload" marker) does not change the type.
pub fn section_def(section: &str) -> Option<SectionDef> {
    let name = section.strip_prefix('?').unwrap_or(section);
    let def = |&(_, prog_type, expected_attach_type, prog_flags): &Entry, extras: Option<&str>| {
        SectionDef {
            prog_type,
            expected_attach_type,
            prog_flags,
            attach_target: extras.filter(|s| !s.is_empty()).map(str::to_owned),
        }
    };
    TABLE
        .iter()
        .find_map(|e| Some(def(e, matches(e.0, name)?)))
        .or_else(|| {
            TABLE
                .iter()
                .find(|e| !e.0.ends_with(['+', '/']) && name.starts_with(e.0))
                .map(|e| def(e, None))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(name: &str) -> Option<(u32, u32, u32, Option<String>)> {
        section_def(name).map(|d| {
            (
                d.prog_type,
                d.expected_attach_type,
                d.prog_flags,
                d.attach_target,
            )
        })
    }

    #[test]
    fn common_sections() {
        assert_eq!(types("socket"), Some((1, 0, 0, None)));
        assert_eq!(types("xdp"), Some((6, 37, 0, None)));
        assert_eq!(types("xdp.frags"), Some((6, 37, BPF_F_XDP_HAS_FRAGS, None)));
        assert_eq!(types("tc"), Some((3, 0, 0, None)));
        assert_eq!(types("classifier"), Some((3, 0, 0, None)));
        assert_eq!(types("tcx/ingress"), Some((3, 46, 0, None)));
        assert_eq!(types("tc/egress"), Some((3, 47, 0, None)));
        assert_eq!(types("action"), Some((4, 0, 0, None)));
        assert_eq!(types("cgroup_skb/ingress"), Some((8, 0, 0, None)));
        assert_eq!(types("cgroup_skb/egress"), Some((8, 1, 0, None)));
        assert_eq!(types("cgroup/skb"), Some((8, 0, 0, None)));
        assert_eq!(types("cgroup/sock"), Some((9, 2, 0, None)));
        assert_eq!(types("cgroup/sock_create"), Some((9, 2, 0, None)));
        assert_eq!(types("cgroup/post_bind6"), Some((9, 13, 0, None)));
        assert_eq!(types("cgroup/connect4"), Some((18, 10, 0, None)));
        assert_eq!(types("cgroup/bind6"), Some((18, 9, 0, None)));
        assert_eq!(types("cgroup/sendmsg4"), Some((18, 14, 0, None)));
        assert_eq!(types("cgroup/recvmsg6"), Some((18, 20, 0, None)));
        assert_eq!(types("cgroup/getsockopt"), Some((25, 21, 0, None)));
        assert_eq!(types("cgroup/setsockopt"), Some((25, 22, 0, None)));
        assert_eq!(types("cgroup/sysctl"), Some((23, 18, 0, None)));
        assert_eq!(types("cgroup/dev"), Some((15, 6, 0, None)));
        assert_eq!(
            types("kprobe/do_sys_open"),
            Some((2, 0, 0, Some("do_sys_open".into())))
        );
        assert_eq!(types("kretprobe/x"), Some((2, 0, 0, Some("x".into()))));
        assert_eq!(types("uprobe"), Some((2, 0, 0, None)));
        assert_eq!(
            types("tp/syscalls/sys_enter_getpid"),
            Some((5, 0, 0, Some("syscalls/sys_enter_getpid".into())))
        );
        assert_eq!(types("tracepoint/a/b"), Some((5, 0, 0, Some("a/b".into()))));
        assert_eq!(
            types("raw_tp/sys_enter"),
            Some((17, 0, 0, Some("sys_enter".into())))
        );
        assert_eq!(
            types("raw_tracepoint/sys_enter"),
            Some((17, 0, 0, Some("sys_enter".into())))
        );
        assert_eq!(
            types("tp_btf/sched_switch"),
            Some((26, 23, 0, Some("sched_switch".into())))
        );
        assert_eq!(types("perf_event"), Some((7, 0, 0, None)));
        assert_eq!(types("sk_msg"), Some((16, 7, 0, None)));
        assert_eq!(types("sk_skb/stream_parser"), Some((14, 4, 0, None)));
        assert_eq!(types("sk_skb/stream_verdict"), Some((14, 5, 0, None)));
        assert_eq!(types("sk_skb"), Some((14, 0, 0, None)));
        assert_eq!(types("sk_lookup"), Some((30, 36, 0, None)));
        assert_eq!(types("lwt_xmit"), Some((12, 0, 0, None)));
        assert_eq!(types("flow_dissector"), Some((22, 17, 0, None)));
        assert_eq!(types("syscall"), Some((31, 0, BPF_F_SLEEPABLE, None)));
        assert_eq!(types("iter/task"), Some((26, 28, 0, Some("task".into()))));
        assert_eq!(types("?xdp"), Some((6, 37, 0, None)));
    }

    #[test]
    fn near_misses_are_unknown() {
        for name in [
            "",
            "kprobex/foo",
            "tracepoints/a",
            "cgroup/unknown",
            ".text",
            "tp_btfx",
        ] {
            assert_eq!(section_def(name), None, "{name}");
        }
    }

    #[test]
    fn exact_patterns_also_match_as_prefixes_as_cilium_reads_them() {
        // libbpf 1.x refuses these names; cilium/ebpf takes an exact pattern as a prefix.
        assert_eq!(types("xdp_drop"), Some((6, 37, 0, None)));
        assert_eq!(types("socket_filter"), Some((1, 0, 0, None)));
        assert_eq!(types("sk_skb/other"), Some((pt::SK_SKB, 0, 0, None)));
        assert_eq!(types("classifier/ingress"), Some((3, 0, 0, None)));
        // Names libbpf knows keep libbpf's reading.
        assert_eq!(types("xdp.frags"), Some((6, 37, BPF_F_XDP_HAS_FRAGS, None)));
    }
}

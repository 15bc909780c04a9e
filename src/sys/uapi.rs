//! The uapi numbers of map types, program types and attach types (enum bpf_map_type,
//! bpf_prog_type, bpf_attach_type of <linux/bpf.h>), in one table each: Rust code names
//! them by these constants, Python builds `MapType`, `ProgType` and `AttachType` from them.

/// `BPF_MAP_TYPE_<NAME>`, lower case, by number.
pub const MAP_TYPES: &[(&str, u32)] = &[
    ("unspec", 0),
    ("hash", 1),
    ("array", 2),
    ("prog_array", 3),
    ("perf_event_array", 4),
    ("percpu_hash", 5),
    ("percpu_array", 6),
    ("stack_trace", 7),
    ("cgroup_array", 8),
    ("lru_hash", 9),
    ("lru_percpu_hash", 10),
    ("lpm_trie", 11),
    ("array_of_maps", 12),
    ("hash_of_maps", 13),
    ("devmap", 14),
    ("sockmap", 15),
    ("cpumap", 16),
    ("xskmap", 17),
    ("sockhash", 18),
    ("cgroup_storage", 19),
    ("reuseport_sockarray", 20),
    ("percpu_cgroup_storage", 21),
    ("queue", 22),
    ("stack", 23),
    ("sk_storage", 24),
    ("devmap_hash", 25),
    ("struct_ops", 26),
    ("ringbuf", 27),
    ("inode_storage", 28),
    ("task_storage", 29),
    ("bloom_filter", 30),
    ("user_ringbuf", 31),
    ("cgrp_storage", 32),
    ("arena", 33),
];

/// `BPF_PROG_TYPE_<NAME>`, lower case, by number.
pub const PROG_TYPES: &[(&str, u32)] = &[
    ("unspec", 0),
    ("socket_filter", 1),
    ("kprobe", 2),
    ("sched_cls", 3),
    ("sched_act", 4),
    ("tracepoint", 5),
    ("xdp", 6),
    ("perf_event", 7),
    ("cgroup_skb", 8),
    ("cgroup_sock", 9),
    ("lwt_in", 10),
    ("lwt_out", 11),
    ("lwt_xmit", 12),
    ("sock_ops", 13),
    ("sk_skb", 14),
    ("cgroup_device", 15),
    ("sk_msg", 16),
    ("raw_tracepoint", 17),
    ("cgroup_sock_addr", 18),
    ("lwt_seg6local", 19),
    ("lirc_mode2", 20),
    ("sk_reuseport", 21),
    ("flow_dissector", 22),
    ("cgroup_sysctl", 23),
    ("raw_tracepoint_writable", 24),
    ("cgroup_sockopt", 25),
    ("tracing", 26),
    ("struct_ops", 27),
    ("ext", 28),
    ("lsm", 29),
    ("sk_lookup", 30),
    ("syscall", 31),
    ("netfilter", 32),
];

/// `BPF_<NAME>` of enum bpf_attach_type, lower case, by number.
pub const ATTACH_TYPES: &[(&str, u32)] = &[
    ("cgroup_inet_ingress", 0),
    ("cgroup_inet_egress", 1),
    ("cgroup_inet_sock_create", 2),
    ("cgroup_sock_ops", 3),
    ("sk_skb_stream_parser", 4),
    ("sk_skb_stream_verdict", 5),
    ("cgroup_device", 6),
    ("sk_msg_verdict", 7),
    ("cgroup_inet4_bind", 8),
    ("cgroup_inet6_bind", 9),
    ("cgroup_inet4_connect", 10),
    ("cgroup_inet6_connect", 11),
    ("cgroup_inet4_post_bind", 12),
    ("cgroup_inet6_post_bind", 13),
    ("cgroup_udp4_sendmsg", 14),
    ("cgroup_udp6_sendmsg", 15),
    ("lirc_mode2", 16),
    ("flow_dissector", 17),
    ("cgroup_sysctl", 18),
    ("cgroup_udp4_recvmsg", 19),
    ("cgroup_udp6_recvmsg", 20),
    ("cgroup_getsockopt", 21),
    ("cgroup_setsockopt", 22),
    ("trace_raw_tp", 23),
    ("trace_fentry", 24),
    ("trace_fexit", 25),
    ("modify_return", 26),
    ("lsm_mac", 27),
    ("trace_iter", 28),
    ("cgroup_inet4_getpeername", 29),
    ("cgroup_inet6_getpeername", 30),
    ("cgroup_inet4_getsockname", 31),
    ("cgroup_inet6_getsockname", 32),
    ("xdp_devmap", 33),
    ("cgroup_inet_sock_release", 34),
    ("xdp_cpumap", 35),
    ("sk_lookup", 36),
    ("xdp", 37),
    ("sk_skb_verdict", 38),
    ("sk_reuseport_select", 39),
    ("sk_reuseport_select_or_migrate", 40),
    ("perf_event", 41),
    ("trace_kprobe_multi", 42),
    ("lsm_cgroup", 43),
    ("struct_ops", 44),
    ("netfilter", 45),
    ("tcx_ingress", 46),
    ("tcx_egress", 47),
    ("trace_uprobe_multi", 48),
    ("cgroup_unix_connect", 49),
    ("cgroup_unix_sendmsg", 50),
    ("cgroup_unix_recvmsg", 51),
    ("cgroup_unix_getpeername", 52),
    ("cgroup_unix_getsockname", 53),
    ("netkit_primary", 54),
    ("netkit_peer", 55),
    ("trace_kprobe_session", 56),
    ("trace_uprobe_session", 57),
];

/// The number of `name` in `table` (case-insensitive), if it has one.
pub fn number(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// The name of `value` in `table` (tables are indexed by number).
pub fn name(table: &[(&'static str, u32)], value: u32) -> Option<&'static str> {
    table.get(value as usize).map(|&(n, _)| n)
}

// The numbers Rust code uses by name.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_TRACE_ITER: u32 = 28;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_indexed_by_number_and_the_constants_agree() {
        for t in [MAP_TYPES, PROG_TYPES, ATTACH_TYPES] {
            for (i, &(_, v)) in t.iter().enumerate() {
                assert_eq!(i as u32, v);
            }
        }
        assert_eq!(name(MAP_TYPES, BPF_MAP_TYPE_ARRAY), Some("array"));
        assert_eq!(
            name(PROG_TYPES, BPF_PROG_TYPE_SOCKET_FILTER),
            Some("socket_filter")
        );
        assert_eq!(name(PROG_TYPES, BPF_PROG_TYPE_KPROBE), Some("kprobe"));
        assert_eq!(name(PROG_TYPES, BPF_PROG_TYPE_TRACING), Some("tracing"));
        assert_eq!(name(ATTACH_TYPES, BPF_TRACE_ITER), Some("trace_iter"));
        assert_eq!(number(MAP_TYPES, "RINGBUF"), Some(27));
    }
}

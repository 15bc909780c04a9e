// SPDX-License-Identifier: GPL-2.0
/* kfunc calls into a kernel module (nf_conntrack's conntrack lookup, Linux 5.18+): the
 * module's BTF goes into fd_array and each call's `off` names its slot, as libbpf
 * numbers them. lookups/last_error prove the call ran: a lookup of a connection that
 * does not exist finds nothing and says -ENOENT. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Just enough of the kernel's types: the compatibility check compares kinds, and a
 * forward declaration is not the kernel's struct. */
struct nf_conn {
	int unused;
};
/* The kernel's struct (12 bytes, NF_BPF_CT_OPTS_SZ of Linux 6.1). */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp, struct bpf_sock_tuple *tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

__u64 lookups;
__u64 found;
__s32 last_error;

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct bpf_sock_tuple tuple = {};
	struct nf_conn *ct;

	tuple.ipv4.saddr = bpf_htonl(0x7f000001);
	tuple.ipv4.daddr = bpf_htonl(0x7f000001);
	tuple.ipv4.sport = bpf_htons(40000);
	tuple.ipv4.dport = bpf_htons(9);
	ct = bpf_xdp_ct_lookup(ctx, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	__sync_fetch_and_add(&lookups, 1);
	if (ct) {
		__sync_fetch_and_add(&found, 1);
		bpf_ct_release(ct);
	} else {
		last_error = opts.error;
	}
	return XDP_PASS;
}

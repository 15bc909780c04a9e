// SPDX-License-Identifier: GPL-2.0
/* A load that fails halfway: late_ok loads (and gets pinned, and holds the
 * metadata and the pinned-by-name map), then the verifier refuses late_bad.
 * The loader must undo everything: no pin, no fd, no map left behind. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} late_pinned SEC(".maps");

volatile const char bpf_metadata_stage[] SEC(".rodata") = "late";

SEC("socket")
int late_ok(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *val = bpf_map_lookup_elem(&late_pinned, &key);

	return val ? 1 : 0;
}

/* The packet is read without a bounds check, as in reject.bpf.c. */
SEC("xdp")
int late_bad(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(__u32 *)data & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* A bloom filter map: no key, and map_extra (here 3) is the number of hash
 * functions; a loader must pass it to BPF_MAP_CREATE, as libbpf does. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__uint(max_entries, 64);
	__uint(map_extra, 3);
} seen_values SEC(".maps");

__u64 hits;

SEC("xdp")
int bloom_xdp(struct xdp_md *ctx)
{
	__u32 value = 42;

	if (bpf_map_peek_elem(&seen_values, &value) == 0)
		hits++;
	else
		bpf_map_push_elem(&seen_values, &value, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

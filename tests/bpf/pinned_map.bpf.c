// SPDX-License-Identifier: GPL-2.0
/* A BTF hash map pinned by name (LIBBPF_PIN_BY_NAME): a second load reuses the
 * pinned map instead of creating one, as libbpf does with `pinmaps`. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_hits SEC(".maps");

volatile const char bpf_metadata_role[] SEC(".rodata") = "pinned";

SEC("xdp")
int pinned_xdp(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 one = 1, *val;

	val = bpf_map_lookup_elem(&shared_hits, &key);
	if (val)
		__sync_fetch_and_add(val, 1);
	else
		bpf_map_update_elem(&shared_hits, &key, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* maps_pin_a and maps_pin_b declare a map of the same name, pinned by name,
 * with max_entries 16 and 32: loading the second where the first pinned its
 * map must fail, as libbpf fails ("parameter mismatch"), leaving nothing. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pin_conflict SEC(".maps");

volatile const char bpf_metadata_side[] SEC(".rodata") = "a";

SEC("xdp")
int pin_a_xdp(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *val = bpf_map_lookup_elem(&pin_conflict, &key);

	if (val)
		__sync_fetch_and_add(val, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* The body of maps_pin_a and maps_pin_b, which differ only in what they define
 * first: PIN_MAX_ENTRIES (the pinned map's size), PIN_SIDE (a metadata string)
 * and PIN_PROG (the program's name). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PIN_MAX_ENTRIES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pin_conflict SEC(".maps");

volatile const char bpf_metadata_side[] SEC(".rodata") = PIN_SIDE;

SEC("xdp")
int PIN_PROG(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *val = bpf_map_lookup_elem(&pin_conflict, &key);

	if (val)
		__sync_fetch_and_add(val, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

/* Maps of maps with static initialisers: `values = { [i] = &map }` puts the inner
 * maps in the outer map's slots (.rel.maps), which libbpf fills once every map exists.
 * The program reads through the outer map to an inner one. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} by_index SEC(".maps") = {
	.values = { [1] = &inner_a, [3] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} by_hash SEC(".maps") = {
	.values = { [2] = &inner_b },
};

SEC("socket")
int read_through(void *ctx)
{
	__u32 slot = 3, zero = 0;
	__u64 *v;
	void *m = bpf_map_lookup_elem(&by_index, &slot);

	if (!m)
		return -1;
	v = bpf_map_lookup_elem(m, &zero);
	if (!v)
		return -2;
	return *v;
}

char LICENSE[] SEC("license") = "GPL";

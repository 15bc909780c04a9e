// Maps of maps and a prog array with static initialisers (`values`, `.rel.maps`).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_b, [2] = &inner_a },
};

SEC("socket")
int tail(void *ctx)
{
	return 7;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail },
};

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;
	bpf_tail_call(ctx, &jumps, 1);
	return bpf_map_lookup_elem(&outer, &k) != 0;
}

char _license[] SEC("license") = "GPL";

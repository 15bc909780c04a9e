// A map-in-map definition (`values`), which bpfbind does not support.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&outer, &k) != 0;
}

char _license[] SEC("license") = "GPL";

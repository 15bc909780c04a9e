// A BTF map definition with a field libbpf does not know.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(bogus, 3);
} m SEC(".maps");

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&m, &k) != 0;
}

char _license[] SEC("license") = "GPL";

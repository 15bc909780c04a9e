// Legacy `maps` section definitions (struct bpf_map_def), which libbpf 1.x refuses and
// cilium/ebpf loads; parity_legacy_twin.bpf.c declares the same maps with BTF in .maps,
// so both objects carry the same instructions.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifdef BTF_MAPS
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__uint(value_size, 8);
} counts SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} seen SEC(".maps");
#else
struct bpf_map_def_legacy {
	unsigned int type, key_size, value_size, max_entries, map_flags;
};
struct bpf_map_def_legacy counts SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4,
};
struct bpf_map_def_legacy seen SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 4, .max_entries = 16,
	.map_flags = BPF_F_NO_PREALLOC,
};
#endif

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	__u32 k = 1;
	long *v = bpf_map_lookup_elem(&counts, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	return bpf_map_lookup_elem(&seen, &k) != 0;
}

char LICENSE[] SEC("license") = "GPL";

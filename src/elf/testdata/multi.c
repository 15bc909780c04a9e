// Several programs in several sections, sharing static and global subprograms in .text,
// a BTF hash map, a callback (bpf_loop) and global data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 16);
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} raw SEC(".maps");

__u64 hits = 0;
static __u32 limit = 7;
const volatile __u32 threshold = 3;

static __noinline __u64 bump(__u32 key)
{
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&counts, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return *v;
	}
	bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
	return one;
}

static __noinline int twice(__u32 key)
{
	return bump(key) + bump(key + 1) > threshold;
}

__noinline int global_helper(__u32 x)
{
	hits++;
	return x * 2 + limit;
}

static int loop_cb(__u32 index, void *ctx)
{
	hits += index;
	return 0;
}

SEC("xdp")
int xdp_prog(struct xdp_md *ctx)
{
	if (twice(ctx->ingress_ifindex))
		return XDP_DROP;
	return XDP_PASS;
}

SEC("cgroup_skb/egress")
int egress(struct __sk_buff *skb)
{
	bpf_loop(4, loop_cb, 0, 0);
	return global_helper(skb->len) & 1;
}

SEC("tp/syscalls/sys_enter_getpid")
int tp_a(void *ctx)
{
	bump(1);
	return 0;
}

SEC("tp/syscalls/sys_enter_getpid")
int tp_b(void *ctx)
{
	return global_helper(2) + bump(2);
}

SEC("socket")
int sock(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

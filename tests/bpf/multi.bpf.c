// SPDX-License-Identifier: GPL-2.0
/* Four programs of four types sharing subprograms, every data section, a
 * BTF-defined hash map and metadata in both conventions: the loader's full
 * surface in one object, and the 4-program object of the load benchmark. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 128);
} hits SEC(".maps");

/* .data: initialised and written. */
__u64 runs = 1;
/* .bss: zero-initialised and written. */
__u64 last_len;
/* .rodata: read-only constant that the tc program reads. */
volatile const __u32 len_limit = 1500;

/* Both metadata conventions in one object. */
volatile const char bpf_metadata_version[] SEC(".rodata") = "1.2.3";
volatile const int bpf_metadata_level SEC(".rodata") = 3;
char build_id[] SEC(".metadata") = "0123456789abcdef";

/* A static subprogram in .text, called from the xdp and socket programs. */
static __noinline __u32 bucket_of(__u32 len)
{
	return (len * 2654435761u) >> 25;
}

/* A global subprogram: verified on its own from its BTF func_info. */
__noinline int count_hit(__u32 key)
{
	__u64 one = 1, *val;

	if (key >= 128)
		return 0;
	val = bpf_map_lookup_elem(&hits, &key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return 1;
	}
	bpf_map_update_elem(&hits, &key, &one, BPF_NOEXIST);
	return 0;
}

SEC("xdp")
int multi_xdp(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	count_hit(bucket_of(len));
	__sync_fetch_and_add(&runs, 1);
	return XDP_PASS;
}

SEC("tc")
int multi_tc(struct __sk_buff *skb)
{
	last_len = skb->len;
	return skb->len > len_limit ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("socket")
int multi_sock(struct __sk_buff *skb)
{
	return count_hit(bucket_of(skb->len)) ? skb->len : 0;
}

SEC("tracepoint/syscalls/sys_enter_nanosleep")
int multi_tp(void *ctx)
{
	__sync_fetch_and_add(&runs, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

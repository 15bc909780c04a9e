// The program of README's "Use" section: metadata of both conventions, a setting in
// .rodata, a counter in .bss, and a map of its own. Build it with
//   bpfbind build examples/prog.bpf.c        (or the clang command in README)
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Convention 1: every variable of the .metadata section is metadata (bpfbind's).
char commit_hash[] SEC(".metadata") = "abcdef123456";
// Convention 2: bpf_metadata_* variables of .rodata (what bpftool prints).
volatile const char bpf_metadata_version[] SEC(".rodata") = "1.2.3";

// Settings: .rodata, written before load (skel.rodata.len_limit), frozen after.
volatile const __u32 len_limit = 1500;
// State shared with user space: .bss, read through skel.bss.counter.
__u64 counter;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} big_packets SEC(".maps");

SEC("xdp")
int my_prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *big;

	__sync_fetch_and_add(&counter, 1);
	if (ctx->data_end - ctx->data > len_limit) {
		big = bpf_map_lookup_elem(&big_packets, &key);
		if (big)
			__sync_fetch_and_add(big, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Maps of every shape the typed map API handles: struct keys and values with arrays
 * and char arrays, per-CPU arrays and hashes, a queue and a stack, and an LPM trie
 * (a map type without batch commands). The program bumps a per-CPU counter and a hash
 * entry on every BPF_PROG_TEST_RUN. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow {
	__u32 pid;
	char comm[8];
};

enum state { IDLE = 0, BUSY = 1, GONE = 7 };

struct stats {
	__u64 count;
	__s32 delta[2];
	char label[12];
	enum state state;
	__u8 small : 3, big : 5;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct flow);
	__type(value, struct stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct flow);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, __u32);
	__type(value, __u64);
} big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} lifo SEC(".maps");

struct prefix {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix);
	__type(value, __u32);
} routes SEC(".maps");

SEC("socket")
int bump(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 *c = bpf_map_lookup_elem(&percpu, &zero);
	if (c)
		*c += 1;
	__u64 *s = bpf_map_lookup_elem(&slots, &zero);
	if (s)
		__sync_fetch_and_add(s, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

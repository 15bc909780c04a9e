// SPDX-License-Identifier: GPL-2.0
/* The maps of README's "Maps, ring buffers and perf buffers": a hash with struct keys
 * and values, a per-CPU array, a queue, a ring buffer and a perf event array. Every run
 * of `emit` (BPF_PROG_TEST_RUN here; a tc hook in real use) counts on its CPU and sends
 * one event to the ring buffer and one to the perf buffer. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum state { IDLE = 0, BUSY = 1 };

struct flow {
	__u32 pid;
	char comm[16];
};

struct stats {
	__u64 count;
	enum state state;
};

struct event {
	__u64 seq;
	__u32 cpu;
	char tag[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow);
	__type(value, struct stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, __u32);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

__u64 seq;
struct event last; /* gives `struct event` a place in the BTF, for typed records */

SEC("tc")
int emit(struct __sk_buff *skb)
{
	struct event e = {};
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&runs, &zero);

	if (n)
		*n += 1;
	e.seq = __sync_fetch_and_add(&seq, 1);
	e.cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(e.tag, "ev1", 4);
	last = e;
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	bpf_perf_event_output(skb, &samples, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

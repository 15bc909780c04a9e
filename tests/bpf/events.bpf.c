// SPDX-License-Identifier: GPL-2.0
/* Events for the ring buffer and perf buffer readers: every BPF_PROG_TEST_RUN of
 * `emit` writes one numbered event to the outputs `mode` selects, and counts in .bss
 * each event an output refused (a full ring, no perf event on this CPU). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u64 seq;
	__u32 cpu;
	char tag[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* 1: events, 2: events2, 4: perf_events, 8: events by reserve, odd seq discarded */
volatile __u32 mode = 1;
__u64 seq;
__u64 ring_drops;
__u64 perf_drops;
/* Also gives `struct event` a place in the object's BTF, for typed records. */
struct event last;

SEC("tc")
int emit(struct __sk_buff *skb)
{
	struct event e = {};

	e.seq = __sync_fetch_and_add(&seq, 1);
	e.cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(e.tag, "ev1", 4);
	last = e;
	if (mode & 1) {
		if (bpf_ringbuf_output(&events, &e, sizeof(e), 0))
			__sync_fetch_and_add(&ring_drops, 1);
	}
	if (mode & 2) {
		__builtin_memcpy(e.tag, "ev2", 4);
		if (bpf_ringbuf_output(&events2, &e, sizeof(e), 0))
			__sync_fetch_and_add(&ring_drops, 1);
	}
	if (mode & 4) {
		if (bpf_perf_event_output(skb, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e)))
			__sync_fetch_and_add(&perf_drops, 1);
	}
	if (mode & 8) {
		struct event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r) {
			__sync_fetch_and_add(&ring_drops, 1);
			return 0;
		}
		*r = e;
		if (e.seq & 1)
			bpf_ringbuf_discard(r, 0);
		else
			bpf_ringbuf_submit(r, 0);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

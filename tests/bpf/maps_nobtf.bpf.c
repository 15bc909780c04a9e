// SPDX-License-Identifier: GPL-2.0
/* Maps of types whose key and value the kernel takes no BTF for: libbpf
 * creates them without BTF ids (passing them makes the kernel answer
 * ENOTSUPP). The perf event array has no max_entries: libbpf sizes it to the
 * number of possible CPUs. The map-in-map types declare their inner map with
 * __array(values, ...), a template libbpf creates first for inner_map_fd. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
	__uint(max_entries, 128);
} stacks SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 8);
	__array(values, struct inner);
} hash_of_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 2);
	__array(values, struct inner);
} array_of_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u32);
	__uint(max_entries, 16);
} queue SEC(".maps");

/* A map with BTF key and value beside them, for contrast. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} plain SEC(".maps");

SEC("kprobe/do_nanosleep")
int nobtf_kprobe(void *ctx)
{
	__u32 key = 0, value = 7;
	__u64 one = 1, *slot;
	void *inner;

	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &value, sizeof(value));
	value = bpf_get_stackid(ctx, &stacks, 0);
	inner = bpf_map_lookup_elem(&hash_of_maps, &key);
	if (inner) {
		slot = bpf_map_lookup_elem(inner, &key);
		if (slot)
			__sync_fetch_and_add(slot, 1);
	}
	inner = bpf_map_lookup_elem(&array_of_maps, &key);
	if (inner) {
		slot = bpf_map_lookup_elem(inner, &key);
		if (slot)
			__sync_fetch_and_add(slot, 1);
	}
	bpf_ringbuf_output(&ring, &value, sizeof(value), 0);
	bpf_map_push_elem(&queue, &value, BPF_ANY);
	bpf_map_update_elem(&plain, &key, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

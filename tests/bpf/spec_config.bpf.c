// An object to configure before load (open_object): .rodata settings of several types,
// a .data counter, a map whose size the caller chooses, a stack map declared without
// value_size or max_entries (as bcc's capable.bpf.c declares it), and programs to leave
// out or retarget.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum mode { MODE_OFF, MODE_ADD = 5, MODE_SHIFT = 9 };

const volatile int bias = 0;
const volatile unsigned char small = 1;
const volatile _Bool enabled = 0;
const volatile char tag[8] = "none";
const volatile enum mode mode = MODE_OFF;
const volatile short steps[3] = {1, 2, 3};
int runs = 7;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
} stacks SEC(".maps");

SEC("socket")
int configured(struct __sk_buff *skb)
{
	int r = bias;

	runs++;
	if (!enabled)
		return 0;
	if (mode == MODE_ADD)
		r += small + steps[0] + steps[1] + steps[2];
	if (mode == MODE_SHIFT)
		r += small << 4;
	if (tag[0] == 'x')
		r += 1000;
	return r;
}

SEC("tp_btf/sched_switch")
int retargeted(__u64 *ctx)
{
	return 0;
}

SEC("?socket")
int optional(void *ctx)
{
	return 3;
}

char LICENSE[] SEC("license") = "GPL";

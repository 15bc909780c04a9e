// SPDX-License-Identifier: GPL-2.0
/* A program array filled by a static initialiser: libbpf puts tail_target's
 * fd in slot 0 after loading it. tail_entry tail-calls into slot 0; only
 * tail_target writes tail_hits, and the two return different verdicts. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 tail_hits, entry_runs;

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	tail_hits++;
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_target,
	},
};

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	entry_runs++;
	bpf_tail_call(ctx, &jump_table, 0);
	return XDP_DROP;	/* only when slot 0 is empty */
}

char LICENSE[] SEC("license") = "GPL";

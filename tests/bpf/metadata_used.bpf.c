// SPDX-License-Identifier: GPL-2.0
/* The kernel selftests' "used" metadata case: the program reads both
 * bpf_metadata_ variables, so its instructions reference the .rodata map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_a[] SEC(".rodata") = "foo";
volatile const int bpf_metadata_b SEC(".rodata") = 1;

SEC("cgroup_skb/egress")
int prog(struct __sk_buff *skb)
{
	/* volatile keeps both loads; the answer is 1 either way. */
	if (bpf_metadata_b == 2 && bpf_metadata_a[0] == 'b')
		return 1;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

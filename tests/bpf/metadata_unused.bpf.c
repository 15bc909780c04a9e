// SPDX-License-Identifier: GPL-2.0
/* The kernel selftests' "unused" metadata case: the program never reads its
 * bpf_metadata_ variables, yet the .rodata map must still be bound to it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_a[] SEC(".rodata") = "foo";
volatile const int bpf_metadata_b SEC(".rodata") = 1;

SEC("cgroup_skb/egress")
int prog(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

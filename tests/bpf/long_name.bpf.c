// SPDX-License-Identifier: GPL-2.0
/* The kernel keeps 15 characters of a program name; bpftool recovers the full
 * name from the BTF func_info, and so must a scanner. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_owner[] SEC(".rodata") = "long_name";
volatile const unsigned int bpf_metadata_revision SEC(".rodata") = 7;

SEC("socket")
int a_program_name_longer_than_fifteen(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

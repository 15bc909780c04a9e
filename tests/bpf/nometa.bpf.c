// SPDX-License-Identifier: GPL-2.0
/* No metadata and no data sections at all: the program holds no maps. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int nometa_prog(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

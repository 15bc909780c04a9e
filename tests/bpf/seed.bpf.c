// SPDX-License-Identifier: GPL-2.0
/* The original series' convention: every variable of the .metadata section is
 * metadata. libbpf skips the section; bpfbind turns it into a frozen map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char commit_hash[] SEC(".metadata") = "abcdef123456";

SEC("socket")
int seed_prog(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

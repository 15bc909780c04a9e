// SPDX-License-Identifier: GPL-2.0
/* A .bss counter bumped on every run, for BPF_PROG_TEST_RUN; the .metadata
 * variable makes the loader bind a second, frozen map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 counter;

char counter_meta[] SEC(".metadata") = "counter-v1";

SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&counter, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

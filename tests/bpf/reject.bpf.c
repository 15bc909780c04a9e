// SPDX-License-Identifier: GPL-2.0
/* The verifier refuses this: the packet is read without a bounds check, so
 * loading it must fail with EACCES and a verifier log naming the access. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int reject_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(__u32 *)data & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

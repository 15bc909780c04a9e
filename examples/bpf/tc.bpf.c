// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "tc": an ingress classifier that looks at each IPv4 packet.
 * Here it counts them and keeps the last TTL; every packet goes on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* TCX_NEXT (-1, TC_ACT_UNSPEC): hand the packet on; older vmlinux.h lack the name. */
#define TC_NEXT -1

#define ETH_P_IP 0x0800

__u64 packets;
__u64 ipv4;
__u32 last_ttl;

SEC("tcx/ingress")
int tc_ingress(struct __sk_buff *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	__sync_fetch_and_add(&packets, 1);
	if ((void *)(ip + 1) > end || ctx->protocol != bpf_htons(ETH_P_IP))
		return TC_NEXT;
	__sync_fetch_and_add(&ipv4, 1);
	last_ttl = ip->ttl;
	return TC_NEXT;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "sockfilter": a socket filter on a raw packet socket that looks
 * at each IPv4 packet. Here it counts packets by IP protocol and passes them all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_HLEN 14

__u64 by_proto[256];

SEC("socket")
int count_protocols(struct __sk_buff *skb)
{
	__u16 proto;
	__u8 ip_proto;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0)
		return skb->len;
	if (proto != bpf_htons(ETH_P_IP))
		return skb->len;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol),
			       &ip_proto, sizeof(ip_proto)) < 0)
		return skb->len;
	__sync_fetch_and_add(&by_proto[ip_proto], 1);
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";

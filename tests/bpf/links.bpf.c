// SPDX-License-Identifier: GPL-2.0
/* One program per attach kind, each bumping its own slot of `hits` when it runs for
 * the test's process (tgid), port or packet: the link tests read the slots to prove
 * that an attach runs the program and that closing the link stops it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* TCX_NEXT (-1, TC_ACT_UNSPEC): hand the packet on; older vmlinux.h lack the name. */
#define TC_NEXT -1

enum {
	H_TP, H_RAW_TP, H_KPROBE, H_KRETPROBE, H_KSYSCALL, H_KMULTI, H_UPROBE,
	H_URETPROBE, H_XDP, H_TCX, H_CONNECT4, H_SKB, H_SK_LOOKUP, H_SOCKET, H_PERF,
	H_TP_BTF, H_COUNT
};

__u64 hits[H_COUNT];
/* Set by the tests before they attach. */
__u32 tgid SEC(".data") = 0;
__u32 port SEC(".data") = 0;

char links_meta[] SEC(".metadata") = "links-v1";

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == tgid;
}

static __always_inline void hit(int i)
{
	__sync_fetch_and_add(&hits[i], 1);
}

SEC("tp/syscalls/sys_enter_getppid")
int tp_getppid(void *ctx)
{
	if (mine())
		hit(H_TP);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_sys_enter(void *ctx)
{
	if (mine())
		hit(H_RAW_TP);
	return 0;
}

SEC("kprobe")
int kprobe_any(void *ctx)
{
	if (mine())
		hit(H_KPROBE);
	return 0;
}

SEC("kretprobe")
int kretprobe_any(void *ctx)
{
	if (mine())
		hit(H_KRETPROBE);
	return 0;
}

SEC("ksyscall/getppid")
int ksyscall_getppid(void *ctx)
{
	if (mine())
		hit(H_KSYSCALL);
	return 0;
}

SEC("kprobe.multi/do_unlinka?")
int kmulti_unlinkat(void *ctx)
{
	if (mine())
		hit(H_KMULTI);
	return 0;
}

SEC("uprobe")
int uprobe_any(void *ctx)
{
	hit(H_UPROBE);
	return 0;
}

SEC("uretprobe")
int uretprobe_any(void *ctx)
{
	hit(H_URETPROBE);
	return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	hit(H_XDP);
	return XDP_PASS;
}

SEC("tcx/ingress")
int tcx_count(struct __sk_buff *skb)
{
	hit(H_TCX);
	return TC_NEXT;
}

SEC("cgroup/connect4")
int connect4_count(struct bpf_sock_addr *ctx)
{
	hit(H_CONNECT4);
	return 1;
}

SEC("cgroup_skb/egress")
int skb_egress_count(struct __sk_buff *skb)
{
	hit(H_SKB);
	return 1;
}

SEC("sk_lookup")
int sk_lookup_count(struct bpf_sk_lookup *ctx)
{
	if (ctx->local_port == port)
		hit(H_SK_LOOKUP);
	return SK_PASS;
}

SEC("socket")
int socket_count(struct __sk_buff *skb)
{
	hit(H_SOCKET);
	return skb->len;
}

SEC("perf_event")
int perf_count(void *ctx)
{
	hit(H_PERF);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	if (mine())
		hit(H_TP_BTF);
	return 0;
}

SEC("iter/task")
int iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}

/* USDT probes are not attached by bpfbind (yet): attach() must say so. */
SEC("usdt")
int usdt_probe(void *ctx)
{
	return 0;
}

/* No attach kind of bpfbind's takes it (it attaches to a sockmap). */
SEC("sk_msg")
int sk_msg_verdict(struct sk_msg_md *msg)
{
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Programs whose sections name their targets, for attach_all (what a libbpf skeleton's
 * attach() attaches): each counts getppid() calls of the test's process, one way each.
 * The xdp program names no target: attach_all leaves it alone. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 hits[4];
__u32 tgid SEC(".data") = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == tgid;
}

SEC("tp/syscalls/sys_enter_getppid")
int auto_tp(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[0], 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int auto_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine() && ctx->args[1] == 110 /* __NR_getppid on x86_64 */)
		__sync_fetch_and_add(&hits[1], 1);
	return 0;
}

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:getppid")
int auto_uprobe(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[2], 1);
	return 0;
}

SEC("iter/task")
int auto_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task && task->tgid == tgid)
		__sync_fetch_and_add(&hits[3], 1);
	return 0;
}

SEC("xdp")
int auto_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

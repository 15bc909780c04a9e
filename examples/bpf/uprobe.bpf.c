// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "uprobe": a user function's entry and return. Here the function
 * is libc's getppid(), probed in one process: calls counted, last result kept. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u32 my_pid SEC(".data") = 0;
__u64 calls;
__u64 returns;
long last_ret;

SEC("uprobe")
int BPF_KPROBE(getppid_entry)
{
	if ((bpf_get_current_pid_tgid() >> 32) == my_pid)
		__sync_fetch_and_add(&calls, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(getppid_exit, long ret)
{
	if ((bpf_get_current_pid_tgid() >> 32) != my_pid)
		return 0;
	last_ret = ret;
	__sync_fetch_and_add(&returns, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

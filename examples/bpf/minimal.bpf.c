// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "minimal": a tracepoint on write(2) that notices one process.
 * Here it counts that process's writes and keeps the last byte count. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 my_pid SEC(".data") = 0;
__u64 writes;
__u64 last_count;

char example[] SEC(".metadata") = "minimal";

SEC("tp/syscalls/sys_enter_write")
int handle_write(struct trace_event_raw_sys_enter *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != my_pid)
		return 0;
	__sync_fetch_and_add(&writes, 1);
	last_count = ctx->args[2];
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

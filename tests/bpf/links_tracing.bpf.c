// SPDX-License-Identifier: GPL-2.0
/* Trampoline programs (fentry, fexit, lsm) for the tracing-link tests: each counts
 * its runs for the test's process. Refused by kernels without trampolines. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 hits[3];
__u32 tgid SEC(".data") = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == tgid;
}

SEC("fentry/__x64_sys_getppid")
int BPF_PROG(fentry_getppid)
{
	if (mine())
		__sync_fetch_and_add(&hits[0], 1);
	return 0;
}

SEC("fexit/__x64_sys_getppid")
int BPF_PROG(fexit_getppid)
{
	if (mine())
		__sync_fetch_and_add(&hits[1], 1);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	if (mine())
		__sync_fetch_and_add(&hits[2], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

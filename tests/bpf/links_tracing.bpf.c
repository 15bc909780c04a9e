// SPDX-License-Identifier: GPL-2.0
/* Trampoline programs (fentry, fexit, lsm) for the tracing-link tests: each counts
 * its runs for the test's process (an unlink of a missing file triggers all three).
 * Refused by kernels without trampolines. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 hits[3];
__u32 tgid SEC(".data") = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == tgid;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlinkat)
{
	if (mine())
		__sync_fetch_and_add(&hits[0], 1);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(fexit_unlinkat)
{
	if (mine())
		__sync_fetch_and_add(&hits[1], 1);
	return 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry)
{
	if (mine())
		__sync_fetch_and_add(&hits[2], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "kprobe": entry and return of do_unlinkat. Here the entry keeps
 * the file name and the return its result, for one process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

__u32 my_pid SEC(".data") = 0;
__u64 entries;
__u64 exits;
long last_ret;
char last_name[64];

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(do_unlinkat, int dfd, struct filename *name)
{
	const char *s;

	if ((bpf_get_current_pid_tgid() >> 32) != my_pid)
		return 0;
	s = BPF_CORE_READ(name, name);
	bpf_probe_read_kernel_str(last_name, sizeof(last_name), s);
	__sync_fetch_and_add(&entries, 1);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(do_unlinkat_exit, long ret)
{
	if ((bpf_get_current_pid_tgid() >> 32) != my_pid)
		return 0;
	last_ret = ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

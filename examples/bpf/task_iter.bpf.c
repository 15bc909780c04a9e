// SPDX-License-Identifier: GPL-2.0
/* libbpf-bootstrap's "task_iter": a task iterator. Here each task becomes one text
 * line "tgid pid ppid comm" of the iterator's output. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

SEC("iter/task")
int list_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%d %d %d %s\n", task->tgid, task->pid,
		       task->real_parent ? task->real_parent->tgid : 0, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// .ksyms externs: an untyped ksym (address from /proc/kallsyms), kfunc calls into vmlinux,
// and __weak ones the kernel lacks (typed, untyped and a kfunc) that load as 0.
// Typed ksyms that exist are in externs_typed_ksym.bpf.c.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* libbpf's bpf_ksym_exists (bpf_helpers.h of libbpf 1.2+; Debian's 1.1 lacks it). */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

/* Just enough of the kernel's types: libbpf's compatibility check only compares kinds. */
struct rq {
	int cpu;
};
struct task_struct {
	int pid;
};

extern const void bpf_prog_put __ksym;
extern const void bpfbind_no_such_symbol __ksym __weak;
extern const struct rq bpfbind_no_such_var __ksym __weak;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpfbind_no_such_kfunc(struct task_struct *p) __ksym __weak;

SEC("tp_btf/task_newtask")
int ksyms_newtask(unsigned long long *ctx)
{
	struct task_struct *task = (void *)ctx[0];
	struct task_struct *t;

	if (&bpfbind_no_such_symbol || &bpfbind_no_such_var)
		return 2;
	t = bpf_task_acquire(task);
	if (!t)
		return 3;
	if (bpf_ksym_exists(bpfbind_no_such_kfunc))
		bpfbind_no_such_kfunc(t);
	bpf_task_release(t);
	return 0;
}

SEC("raw_tp/sys_enter")
int ksyms_raw(void *ctx)
{
	/* The address is the program's data: it goes into the instruction, hence the tag. */
	return (unsigned long)&bpf_prog_put >> 4 & 0xff;
}

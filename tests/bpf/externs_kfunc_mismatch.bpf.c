// A kfunc declared with a prototype the kernel's does not match (an int where the kernel
// takes a pointer): libbpf refuses the object before loading it, and so must bpfbind.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern void bpf_task_release(int not_a_task) __ksym;

SEC("tp_btf/task_newtask")
int mismatch(unsigned long long *ctx)
{
	bpf_task_release(0);
	return 0;
}

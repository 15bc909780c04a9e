// A typed ksym: ld_imm64 of BPF_PSEUDO_BTF_ID with the kernel's BTF id of the VAR. The
// verifier then wants the variable's address from kallsyms, which a kernel without
// CONFIG_KALLSYMS_ALL lacks: there both loaders get the same rejection naming the symbol.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct rq {
	int cpu;
};

extern const struct rq runqueues __ksym;

SEC("raw_tp/sys_enter")
int typed_ksym(void *ctx)
{
	return bpf_per_cpu_ptr(&runqueues, 0) != 0;
}

// A strong .kconfig extern this kernel's config does not have: the load must fail naming it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int CONFIG_BPFBIND_NOT_IN_ANY_KERNEL __kconfig;

SEC("socket")
int missing(void *ctx)
{
	return CONFIG_BPFBIND_NOT_IN_ANY_KERNEL;
}

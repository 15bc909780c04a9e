// A .kconfig extern, which bpfbind does not support.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;

SEC("socket")
int prog(void *ctx)
{
	return LINUX_KERNEL_VERSION > 0;
}

char _license[] SEC("license") = "GPL";

// .kconfig externs of every kind libbpf fills: its virtual LINUX_* values, bool, tristate,
// char, ints of each size, a string, and __weak ones the kernel's config lacks (0).
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern bool CONFIG_BPF __kconfig;
extern enum libbpf_tristate CONFIG_BPF_SYSCALL __kconfig;
extern char CONFIG_BPF_JIT __kconfig;
extern int CONFIG_HZ __kconfig;
extern unsigned short CONFIG_NR_CPUS __kconfig;
extern unsigned long long CONFIG_PHYSICAL_START __kconfig;
extern char CONFIG_LOCALVERSION[32] __kconfig;
extern bool CONFIG_BPFBIND_NO_SUCH_OPTION __kconfig __weak;
extern int CONFIG_BPFBIND_NO_SUCH_NUMBER __kconfig __weak;
extern unsigned char LINUX_BPFBIND_UNKNOWN __kconfig __weak;

SEC("socket")
int kconfig_sock(void *ctx)
{
	int r = 0;

	if (LINUX_KERNEL_VERSION > 0)
		r |= 1;
	if (LINUX_HAS_SYSCALL_WRAPPER)
		r |= 2;
	if (LINUX_HAS_BPF_COOKIE)
		r |= 4;
	if (CONFIG_BPF && CONFIG_BPF_SYSCALL == TRI_YES && CONFIG_BPF_JIT == 'y')
		r |= 8;
	if (CONFIG_HZ + CONFIG_NR_CPUS + CONFIG_PHYSICAL_START > 1000)
		r |= 16;
	if (CONFIG_LOCALVERSION[0] == '-')
		r |= 32;
	if (CONFIG_BPFBIND_NO_SUCH_OPTION || CONFIG_BPFBIND_NO_SUCH_NUMBER || LINUX_BPFBIND_UNKNOWN)
		r |= 64;
	return r;
}

SEC("socket")
int kconfig_hz(void *ctx)
{
	return CONFIG_HZ;
}

/* Reads no extern: libbpf does not bind the .kconfig map to it (only .rodata maps). */
SEC("socket")
int kconfig_none(void *ctx)
{
	return 0;
}

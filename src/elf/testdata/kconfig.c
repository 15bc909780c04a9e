// Externs of both kinds, for the layout tests: kconfig values of several sizes and
// alignments (libbpf orders them by alignment, then size, then name), a ksym and a kfunc.
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_B __kconfig __weak;
extern char CONFIG_STR[5] __kconfig __weak;
extern unsigned long long CONFIG_U64 __kconfig __weak;
extern short CONFIG_S16 __kconfig __weak;
extern enum libbpf_tristate CONFIG_TRI __kconfig __weak;
extern bool CONFIG_A __kconfig __weak;

extern const void some_ksym __ksym;
extern void some_kfunc(int) __ksym;

SEC("socket")
int prog(void *ctx)
{
	some_kfunc(1);
	return LINUX_KERNEL_VERSION + CONFIG_B + CONFIG_STR[1] + CONFIG_U64 + CONFIG_S16 +
	       CONFIG_TRI + CONFIG_A + (long)&some_ksym;
}

char _license[] SEC("license") = "GPL";

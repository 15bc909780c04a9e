/* Programs the kernel attaches through BPF trampolines: fentry, fexit, fmod_ret and
 * lsm, verified against the kernel function their section names. Kernels without
 * trampolines (this project's 6.18 host) refuse them with EPERM; the kernel matrix's
 * 6.1 and 6.12 load them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";
volatile const char bpf_metadata_kind[] = "trampolines";

__u64 seen;

SEC("fentry/do_nanosleep")
int at_entry(__u64 *ctx)
{
	seen++;
	return 0;
}

SEC("fexit/do_nanosleep")
int at_exit(__u64 *ctx)
{
	seen += ctx[2];
	return 0;
}

SEC("fmod_ret/security_file_open")
int change_return(__u64 *ctx)
{
	return 0;
}

SEC("lsm/file_open")
int lsm_open(__u64 *ctx)
{
	return 0;
}

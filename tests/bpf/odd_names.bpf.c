// Names that are not valid Python as they stand: keywords, dots in section names, a
// name past 15 characters, a name that only differs by case. Skeleton generation must
// turn each into a usable, distinct attribute.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

char commit_hash[] SEC(".metadata") = "0ddba11";
volatile const int bpf_metadata_class = 3;
volatile const char bpf_metadata_lambda[] = "yes";

int def SEC(".data.my.custom") = 1;
int Def SEC(".data.my.custom") = 2;
volatile const unsigned int import SEC(".rodata.cfg.v2") = 7;
volatile const unsigned long None = 9;
struct pair { int from; int yield; } await = { 4, 5 };
__u64 a_variable_name_that_is_rather_long_indeed = 0;

SEC("socket")
int a_socket_program_with_a_long_name(struct __sk_buff *skb)
{
	return def + Def + import + None + await.from;
}

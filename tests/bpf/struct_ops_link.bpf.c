// The struct_ops map of struct_ops.bpf.c declared in `.struct_ops.link` (BPF_F_LINK):
// registering it takes a BPF link of type struct_ops, and closing the link unregisters
// it (libbpf 1.2+; Debian's libbpf 1.1 does not know the section).
#define OPS_SECTION ".struct_ops.link"
#define OPS_VAR bpfbind_cc_link
#define OPS_NAME "bpfbind_cc_link"
#include "struct_ops.h"

// A struct_ops map and the programs that implement its members: a TCP congestion
// control, declared with local types (no vmlinux.h). Loading creates the map with the
// kernel's value type and loads each program against the member it implements;
// registering it is an attach (Map.attach_struct_ops), not part of the load.
#define OPS_SECTION ".struct_ops"
#define OPS_VAR bpfbind_cc
#define OPS_NAME "bpfbind_cc"
#include "struct_ops.h"

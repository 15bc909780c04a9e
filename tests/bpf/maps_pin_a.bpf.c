// SPDX-License-Identifier: GPL-2.0
/* maps_pin_a and maps_pin_b declare a map of the same name, pinned by name,
 * with max_entries 16 and 32: loading the second where the first pinned its
 * map must fail, as libbpf fails ("parameter mismatch"), leaving nothing. */
#define PIN_MAX_ENTRIES 16
#define PIN_SIDE "a"
#define PIN_PROG pin_a_xdp
#include "maps_pin.h"

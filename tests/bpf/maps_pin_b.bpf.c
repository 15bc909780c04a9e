// SPDX-License-Identifier: GPL-2.0
/* maps_pin_a's map with max_entries 32 (see there). */
#define PIN_MAX_ENTRIES 32
#define PIN_SIDE "b"
#define PIN_PROG pin_b_xdp
#include "maps_pin.h"

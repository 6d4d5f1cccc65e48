/*
 * config_params.c - the parameter table built from params.def, the
 * per-service parameter suffixes, and the lookup of a name in the table.
 * The defaults, types and ranges themselves, and yubin's deviations from
 * Postfix's defaults, are described in params.def.
 */
#include "lib-conf/config_params.h"
#include "lib/util.h"

#include <string.h>

const struct param_def cfg_param_table[] = {
#define PARAM(name, def, type, unit, flags, min, max) {#name, def, type, unit, flags, min, max},
#include "lib-conf/params.def"
#undef PARAM
};

const size_t cfg_param_table_len = ARRAY_LEN(cfg_param_table);
_Static_assert(ARRAY_LEN(cfg_param_table) == P__COUNT, "one enum param_id per table row");

/* "<service>_<suffix>" for a master.cf service, defaulting to the global setting. */
const struct svc_param_def cfg_svc_param_table[] = {
    {"delivery_slot_cost", "$default_delivery_slot_cost", PT_INT, 0, 0},
    {"delivery_slot_discount", "$default_delivery_slot_discount", PT_INT, 0, 0},
    {"delivery_slot_loan", "$default_delivery_slot_loan", PT_INT, 0, 0},
    {"destination_concurrency_failed_cohort_limit", "$default_destination_concurrency_failed_cohort_limit", PT_INT, 0, 0},
    {"destination_concurrency_limit", "$default_destination_concurrency_limit", PT_INT, 0, 0},
    {"destination_concurrency_negative_feedback", "$default_destination_concurrency_negative_feedback", PT_STR, 0, 0},
    {"destination_concurrency_positive_feedback", "$default_destination_concurrency_positive_feedback", PT_STR, 0, 0},
    {"destination_rate_delay", "$default_destination_rate_delay", PT_TIME, 's', 0},
    {"destination_recipient_limit", "$default_destination_recipient_limit", PT_INT, 0, 0},
    {"extra_recipient_limit", "$default_extra_recipient_limit", PT_INT, 0, 0},
    {"initial_destination_concurrency", "$initial_destination_concurrency", PT_INT, 0, 0},
    {"minimum_delivery_slots", "$default_minimum_delivery_slots", PT_INT, 0, 0},
    {"recipient_limit", "$default_recipient_limit", PT_INT, 0, 0},
    {"recipient_refill_delay", "$default_recipient_refill_delay", PT_TIME, 's', 0},
    {"recipient_refill_limit", "$default_recipient_refill_limit", PT_INT, 0, 0},
    {"time_limit", "$command_time_limit", PT_TIME, 's', 1},
    {"transport_rate_delay", "$default_transport_rate_delay", PT_TIME, 's', 0},
};

const size_t cfg_svc_param_table_len = ARRAY_LEN(cfg_svc_param_table);

const struct param_def *cfg_param_def(const char *name)
{
    size_t lo = 0, hi = cfg_param_table_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, cfg_param_table[mid].name);
        if (c == 0)
            return &cfg_param_table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

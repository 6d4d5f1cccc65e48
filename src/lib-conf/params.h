/*
 * params.h - a constant for every main.cf parameter, made from the one
 * parameter table (params.def): P_smtpd_recipient_limit and so on.
 *
 * Code reads a parameter through its constant, cfg_get_int(cfg,
 * P_smtpd_recipient_limit), so a misspelled name does not compile and the
 * accessor finds the parameter's row (type, default, range) by index. Names
 * that come from outside the program (main.cf, the command line, master.cf
 * service names, restriction classes, table parameters) use the *_by_name
 * accessors of config.h.
 */
#ifndef YUBIN_PARAMS_H
#define YUBIN_PARAMS_H

enum param_id {
#define PARAM(name, ...) P_##name,
#include "lib-conf/params.def"
#undef PARAM
    P__COUNT
};

#endif

/*
 * virtual.h - the virtual(8) agent's entry for deliver.c's table of
 * agents: delivery of one recipient of virtual_mailbox_domains (virtual.c).
 */
#ifndef YUBIN_DELIVER_VIRTUAL_H
#define YUBIN_DELIVER_VIRTUAL_H

#include "deliver/agent.h"

agent_deliver_fn deliver_virtual;

#endif

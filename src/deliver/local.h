/*
 * local.h - the local(8) agent's entry for deliver.c's table of agents:
 * delivery of one recipient of mydestination (local.c).
 */
#ifndef YUBIN_DELIVER_LOCAL_H
#define YUBIN_DELIVER_LOCAL_H

#include "deliver/agent.h"

agent_deliver_fn deliver_local;

#endif

#!/bin/bash
# Starts lwds-coap-gw announcing an rpc URL other containers can dial: the
# listener binds every address, peers dial this container's own address.
set -e
if [[ -z ${LWDS_GW_RPC_ADVERTISE:-} ]]; then
	read -r addr _ < <(hostname -i)
	port=${LWDS_GW_RPC_URL##*:}
	export LWDS_GW_RPC_ADVERTISE="tcp://$addr:${port:-7710}"
fi
exec /usr/local/bin/lwds-coap-gw "$@"

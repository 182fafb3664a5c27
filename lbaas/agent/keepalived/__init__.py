"""keepalived (VRRPv3) for ACTIVE_STANDBY load balancers: a data-plane unit beside HAProxy."""

"""Streaming protocols of the kubelet server: exec/attach channels over WebSocket, SPDY/3.1 port-forward."""

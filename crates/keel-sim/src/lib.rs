//! Deterministic VRRP simulator.

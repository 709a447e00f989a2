//! nftables data plane of keel.
